/** Identifiers made at the edges (composition roots), passed inward as plain values. */
import { randomBytes, randomUUID } from 'node:crypto';

export const newId = (): string => randomUUID();

/** A W3C trace context `traceparent` for a new trace (version 00, sampled). */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

export const TRACEPARENT_PATTERN = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
