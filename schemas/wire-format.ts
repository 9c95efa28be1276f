/**
 * The Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian integer, then the
 * Avro binary encoding. Pure functions; no registry involved.
 */
export const MAGIC_BYTE = 0;
export const HEADER_LENGTH = 5;

export function frame(schemaId: number, avro: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt8(MAGIC_BYTE, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, avro]);
}

/** The schema id of a framed payload, or undefined when the bytes are not in the wire format. */
export function schemaIdOf(bytes: Buffer | null | undefined): number | undefined {
  if (!bytes || bytes.length < HEADER_LENGTH || bytes.readUInt8(0) !== MAGIC_BYTE) return undefined;
  return bytes.readInt32BE(1);
}
