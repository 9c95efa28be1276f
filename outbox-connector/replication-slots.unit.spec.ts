import { describe, expect, it } from 'vitest';
import { formatBytes } from './replication-slots.ts';

describe('formatBytes', () => {
  it('keeps bytes below 1 KiB as they are and scales larger amounts by 1024', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
});
