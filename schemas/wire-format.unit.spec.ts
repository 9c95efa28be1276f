import { describe, expect, it } from 'vitest';
import { frame, schemaIdOf } from './wire-format.ts';

describe('Confluent wire format', () => {
  it('prefixes the Avro bytes with magic byte 0 and the big-endian schema id', () => {
    const framed = frame(258, Buffer.from([7, 8]));
    expect([...framed]).toEqual([0, 0, 0, 1, 2, 7, 8]);
    expect(schemaIdOf(framed)).toBe(258);
  });

  it('recognises bytes that are not framed', () => {
    expect(schemaIdOf(Buffer.from('{"json":true}'))).toBeUndefined();
    expect(schemaIdOf(Buffer.from([0, 1]))).toBeUndefined();
    expect(schemaIdOf(null)).toBeUndefined();
  });
});
