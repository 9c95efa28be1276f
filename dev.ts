/**
 * `sagaline/dev`: tools for trying failures out against a real stack, not for production code — a
 * TCP proxy that can make a database unreachable for real and back.
 */
export { TcpProxy } from './core/tcp-proxy.ts';
