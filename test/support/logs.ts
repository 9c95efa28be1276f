/** The log files a stack and its processes wrote, and a search of them for secrets. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every `*.log` file under a stack's state directory (the components', the processes', Postgres'), leaving out Kafka's data. */
export function logFiles(stateDir: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'data') walk(path);
      else if (entry.isFile() && entry.name.endsWith('.log')) files.push(path);
    }
  };
  walk(stateDir);
  return files;
}

/** `<what> in <file>` for each secret found in each file: empty when none is. */
export function secretsIn(files: readonly string[], secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const [what, value] of Object.entries(secrets)) if (value && text.includes(value)) found.push(`${what} in ${file}`);
  }
  return found;
}
