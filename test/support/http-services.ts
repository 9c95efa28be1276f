/**
 * Small HTTP services for the HTTP participant's tests: real servers on ephemeral ports of this
 * machine that record every call they receive and answer as each test scripts them (per trip, per
 * path; 200 with a small JSON body by default). Like a well-behaved service they are idempotent: a
 * call repeating an Idempotency-Key that already got a 2xx gets that answer again, and nothing is
 * done a second time.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  service: string;
  path: string;
  idempotencyKey: string | undefined;
  sagaId: string | undefined;
  /** The W3C trace context the call came with. */
  traceparent: string | undefined;
  body: unknown;
  status: number;
  at: number;
  /** The call repeated a key that already had a 2xx: the service answered as before, doing nothing again. */
  replayed: boolean;
}

/** How a service answers one call: `n` is this path's call number for this trip (1, 2, …). */
export type Script = (n: number, body: unknown) => Promise<{ status: number; body?: unknown }> | { status: number; body?: unknown };

export interface TestServices {
  /** Service name → base URL. */
  readonly urls: Record<string, string>;
  readonly calls: RecordedCall[];
  /** Answers calls to `path` about trip `tripId` with `script` instead of 200. */
  script(tripId: string, path: string, script: Script): void;
  /** The calls about one trip (by the tripId in the action's body, or the original payload of a compensation). */
  callsFor(tripId: string): RecordedCall[];
  close(): Promise<void>;
}

const tripOf = (body: unknown): string | undefined => {
  const b = body as { tripId?: string; original_payload?: { tripId?: string } } | null;
  return b?.tripId ?? b?.original_payload?.tripId;
};

export async function startServices(names: readonly string[]): Promise<TestServices> {
  const calls: RecordedCall[] = [];
  const scripts = new Map<string, Script>();
  /** The 2xx answer each idempotency key got first. */
  const done = new Map<string, { status: number; body?: unknown }>();
  const servers: Server[] = [];
  const urls: Record<string, string> = {};
  for (const service of names) {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
          } catch {
            body = Buffer.concat(chunks).toString('utf8');
          }
          const path = req.url ?? '/';
          const trip = tripOf(body) ?? '';
          const key = req.headers['idempotency-key'] as string | undefined;
          const earlier = key === undefined ? undefined : done.get(key);
          const n = calls.filter((c) => c.service === service && c.path === path && tripOf(c.body) === trip).length + 1;
          const script = scripts.get(`${trip} ${path}`);
          const answer = earlier ?? (script ? await script(n, body) : { status: 200, body: { ok: true, ref: `${service}-${trip}-${n}` } });
          if (key !== undefined && !earlier && answer.status >= 200 && answer.status < 300) done.set(key, answer);
          calls.push({ service, path, idempotencyKey: key, sagaId: req.headers['x-saga-id'] as string | undefined, traceparent: req.headers.traceparent as string | undefined, body, status: answer.status, at: Date.now(), replayed: earlier !== undefined });
          res.writeHead(answer.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.body ?? {}));
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls[service] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  return {
    urls,
    calls,
    script: (tripId, path, script) => void scripts.set(`${tripId} ${path}`, script),
    callsFor: (tripId) => calls.filter((c) => tripOf(c.body) === tripId),
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}
