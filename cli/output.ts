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

export interface ProgressBar {
  update(done: number, total: number): void;
  finish(): void;
}

/**
 * A progress bar with the rate, on stderr: redrawn in place on a terminal (at most every 100 ms),
 * one line every 5 s otherwise (logs, CI), so output stays readable either way.
 */
export function progressBar(label: string, unit = 'events', stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const t0 = Date.now();
  let last = 0;
  let latest = { done: 0, total: 0 };
  const render = () => {
    const { done, total } = latest;
    const seconds = Math.max((Date.now() - t0) / 1000, 0.001);
    const ratio = total > 0 ? Math.min(done / total, 1) : 1;
    const width = 30;
    const filled = Math.round(ratio * width);
    return `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} ${unit} · ${Math.round(done / seconds)} ${unit}/s`;
  };
  return {
    update(done, total) {
      latest = { done, total };
      const now = Date.now();
      if (stream.isTTY) {
        if (now - last < 100) return;
        stream.write(`\r${render()}`);
      } else {
        if (now - last < 5_000) return;
        stream.write(`› ${render()}\n`);
      }
      last = now;
    },
    finish() {
      stream.write(stream.isTTY ? `\r${render()}\n` : `› ${render()}\n`);
    },
  };
}
