/** Schemas of the user's own, in their own namespace: loaded, typed, and encoded as the engine's are. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { generate } from './codegen.ts';
import { fromUnionValue, loadContracts, toUnionValue, topicValueSchema } from './contracts.ts';

function ownSchemas(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sagaline-schemas-'));
  mkdirSync(join(dir, 'shared'));
  mkdirSync(join(dir, 'messages'));
  const ns = 'com.example.orders';
  writeFileSync(join(dir, 'shared', 'Money.avsc'), JSON.stringify({ type: 'record', name: 'Money', namespace: ns, fields: [{ name: 'cents', type: 'long' }, { name: 'currency', type: 'string' }] }));
  writeFileSync(join(dir, 'messages', 'OrderPlaced.avsc'), JSON.stringify({ type: 'record', name: 'OrderPlaced', namespace: ns, doc: 'A customer placed an order.', fields: [{ name: 'orderId', type: 'string' }, { name: 'total', type: `${ns}.Money` }] }));
  writeFileSync(join(dir, 'messages', 'OrderShipped.avsc'), JSON.stringify({ type: 'record', name: 'OrderShipped', namespace: ns, fields: [{ name: 'orderId', type: 'string' }, { name: 'carrier', type: ['null', 'string'], default: null }] }));
  return dir;
}

describe("a user's own schemas", () => {
  it('generate types named by the records, whatever their namespace', () => {
    const code = generate(loadContracts(ownSchemas()), '// test');
    expect(code).toContain('export interface Money {\n  cents: number;\n  currency: string;\n}');
    expect(code).toContain('/** A customer placed an order. */\nexport interface OrderPlaced {\n  orderId: string;\n  total: Money;\n}');
    expect(code).toContain("export type MessageType = keyof MessagePayloads;");
    expect(code).toContain("'OrderPlaced',\n  'OrderShipped',");
  });

  it('make a topic union in their namespace, and a message goes through it and back', () => {
    // Given a topic carrying both messages
    const contracts = loadContracts(ownSchemas());
    const schema = topicValueSchema(contracts, ['OrderPlaced', 'OrderShipped']) as { name: string }[];
    expect(schema.map((s) => s.name)).toEqual(['com.example.orders.OrderPlaced', 'com.example.orders.OrderShipped']);
    // When a message is encoded into the union and decoded again
    const union = avsc.Type.forSchema(schema as avsc.Schema); // as the writer parses it: a union of records is wrapped
    const payload = { orderId: 'o-1', carrier: 'post' };
    const decoded = union.fromBuffer(union.toBuffer(toUnionValue(union, 'OrderShipped', payload)));
    // Then it is the same message, and not the other one
    expect(fromUnionValue(decoded, 'OrderShipped')).toEqual(payload);
    expect(fromUnionValue(decoded, 'OrderPlaced')).toBeUndefined();
    expect(() => toUnionValue(union, 'OrderCancelled', payload)).toThrow('message type OrderCancelled is not a branch');
  });

  it('a folder without messages/ is refused, saying what goes where', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sagaline-schemas-'));
    expect(() => loadContracts(empty)).toThrow(ConfigError);
    expect(() => loadContracts(empty)).toThrow(`${empty} has no messages/ folder`);
  });
});
