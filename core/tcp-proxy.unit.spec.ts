import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from './tcp-proxy.ts';

/** Sends one line through `port` and resolves with the echo, or rejects with the socket error. */
function roundTrip(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('ping\n'));
    socket.setEncoding('utf8').once('data', (data: string) => {
      socket.destroy();
      resolve(data);
    });
    socket.once('error', reject);
  });
}

describe('a TCP proxy that can be cut and restored', () => {
  let echo: Server;
  let echoPort: number;
  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => echo.close(resolve));
  });

  it('forwards, refuses while closed, and forwards again on the same port once reopened', async () => {
    // Given
    const proxy = new TcpProxy('127.0.0.1', echoPort);
    await proxy.open();
    const port = proxy.port;
    expect(await roundTrip(port)).toBe('ping\n');
    // When closed
    await proxy.close();
    // Then the server behind it is unreachable through it
    await expect(roundTrip(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // When reopened
    await proxy.open();
    expect(proxy.port).toBe(port);
    expect(await roundTrip(port)).toBe('ping\n');
    await proxy.close();
  });

  it('cuts connections that are open when it closes', async () => {
    const proxy = new TcpProxy('127.0.0.1', echoPort);
    await proxy.open();
    const socket = connect(proxy.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    await proxy.close();
    await closed;
    expect(socket.destroyed).toBe(true);
  });
});
