/** How the CLI talks to people: progress on stderr, results on stdout, errors as one clear line. */
import { SagalineError, StackError } from '../core/errors.ts';

export const progress = (line: string): void => {
  process.stderr.write(`› ${line}\n`);
};

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function table(rows: Record<string, string | number | boolean | undefined>[]): string {
  if (rows.length === 0) return '';
  const headers = Object.keys(rows[0] as object);
  const cells = rows.map((r) => headers.map((h) => String(r[h] ?? '')));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Prints an error as one line naming the cause (plus a component's log tail), returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof SagalineError) {
    process.stderr.write(`sagaline: error: ${err.message}\n`);
    if (err instanceof StackError && err.logTail) {
      process.stderr.write(err.logTail.split('\n').map((l) => `  | ${l}`).join('\n') + '\n');
    }
    return 1;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`sagaline: unexpected error: ${message}\n`);
  return 70;
}
