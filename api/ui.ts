/**
 * The web UI: three static files (api/ui/), served by the API's own process at `/ui`. No build
 * step: plain ES modules and CSS that read the JSON routes of the same server.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export function registerUi(app: FastifyInstance<any, any, any, any>): void {
  const content = new Map(Object.keys(FILES).map((name) => [name, readFileSync(new URL(`./ui/${name}`, import.meta.url))]));
  const send = (name: string) => async (_request: unknown, reply: { header(k: string, v: string): unknown; type(t: string): { send(b: Buffer): unknown } }) => {
    // The page is small and changes with the server: always revalidated, never stale after an upgrade.
    reply.header('cache-control', 'no-cache');
    return reply.type(FILES[name]!).send(content.get(name)!);
  };
  app.get('/ui', send('index.html'));
  app.get('/ui/', send('index.html'));
  for (const name of Object.keys(FILES)) app.get(`/ui/${name}`, send(name));
}
