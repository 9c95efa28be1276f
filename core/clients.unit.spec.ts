import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryRequest } from '../schemas/registry-api.ts';
import { registryClient } from './clients.ts';
import { DEFAULTS, loadConfig } from './config.ts';

describe('the registry clients', () => {
  // A registry that takes every connection and never answers
  let silent: Server;
  const sockets: Socket[] = [];
  let url: string;

  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('given nothing, then a registry request may take 30 s; SAGALINE_REGISTRY_TIMEOUT_MS changes it, and a non-number is refused by name', () => {
    const stack = { KAFKA_BROKERS: 'k:9092', DATABASE_URL: 'postgres://u:p@db/app', SCHEMA_REGISTRY_URL: url, CONNECT_URL: 'http://c:8083' };
    expect(loadConfig(stack).schemaRegistry.timeoutMs).toBe(DEFAULTS.registryTimeoutMs);
    expect(loadConfig({ ...stack, SAGALINE_REGISTRY_TIMEOUT_MS: '400' }).schemaRegistry.timeoutMs).toBe(400);
    expect(() => loadConfig({ ...stack, SAGALINE_REGISTRY_TIMEOUT_MS: 'soon' })).toThrow(/SAGALINE_REGISTRY_TIMEOUT_MS must be a positive integer, got "soon"/);
  });

  it('given a registry that never answers, when the decoding client fetches a schema, then it fails after the timeout with a status (so the batch comes again, not as a poison message) instead of waiting for ever', async () => {
    const t0 = Date.now();
    const attempt = registryClient({ schemaRegistry: { url, timeoutMs: 400 } }).getSchema(1);
    await expect(attempt).rejects.toMatchObject({ status: 400, message: expect.stringContaining('Timeout (400ms)') });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
  });

  it("given a registry that never answers, when sagaline's own registry call is made, then it fails after the timeout as retriable", async () => {
    await expect(registryRequest({ url, timeoutMs: 400 }, 'GET', '/subjects')).rejects.toMatchObject({ code: 'REGISTRY_FAILED', retriable: true, message: expect.stringContaining('unreachable') });
  });
});
