/** What the three JVM components (broker, Connect, registry) share: launch with a marker, heap limit, stop. */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ComponentContext } from './component.ts';
import { findByMarker, jvmMarker } from './component.ts';
import { killNow, spawnDetached, terminate, waitForPortsFree, which } from './processes.ts';

/** Major version of the Java runtime behind `javaBin`, from its `release` file; undefined when unknown. */
export function javaMajor(javaBin: string): number | undefined {
  const path = which(javaBin);
  if (!path) return undefined;
  try {
    const home = dirname(dirname(realpathSync(path)));
    const match = /JAVA_VERSION="(\d+)/.exec(readFileSync(join(home, 'release'), 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** `preferred` if it is at least `minMajor`, else the newest such JDK under /usr/lib/jvm. */
export function findJava(preferred: string, minMajor: number, jvmRoot = '/usr/lib/jvm'): string | undefined {
  if ((javaMajor(preferred) ?? 0) >= minMajor) return preferred;
  if (!existsSync(jvmRoot)) return undefined;
  const candidates = readdirSync(jvmRoot)
    .map((d) => join(jvmRoot, d, 'bin', 'java'))
    .map((bin) => ({ bin, major: javaMajor(bin) ?? 0 }))
    .filter((c) => c.major >= minMajor)
    .sort((a, b) => b.major - a.major);
  return candidates[0]?.bin;
}

/** A Java properties file; `secret`: it holds a password, so only its owner may read it. */
export function writeProperties(file: string, props: Record<string, string | number | boolean>, secret = false): void {
  writeFileSync(file, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', secret ? { mode: 0o600 } : {});
  if (secret) chmodSync(file, 0o600);
}

/** Console-only log4j 1.x configuration (the shipped ones expect ${kafka.logs.dir}). */
export function writeLog4j(file: string): void {
  writeProperties(file, {
    'log4j.rootLogger': 'INFO, stdout',
    'log4j.appender.stdout': 'org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout': 'org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern': '[%d] %p %m (%c)%n',
    'log4j.logger.org.reflections': 'ERROR',
    'log4j.logger.org.apache.kafka.clients': 'WARN',
    'log4j.logger.kafka.request.logger': 'WARN',
  });
}

export class JvmProcess {
  readonly marker: string;
  readonly dir: string;

  constructor(
    private readonly ctx: ComponentContext,
    readonly name: string,
    private readonly heapMb: number,
    readonly logFile: string,
    private readonly javaBin: string = ctx.config.stack.javaBin,
  ) {
    this.marker = jvmMarker(ctx.config.stack.stateDir, name);
    this.dir = join(ctx.config.stack.stateDir, name);
    mkdirSync(this.dir, { recursive: true });
  }

  pid(): number | undefined {
    return findByMarker(this.marker);
  }

  launch(args: string[], cwd?: string): number {
    mkdirSync(this.ctx.logsDir, { recursive: true });
    const jvmArgs = [
      this.marker,
      `-Xmx${this.heapMb}m`,
      `-Xms${Math.min(128, this.heapMb)}m`,
      '-XX:+UseG1GC',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
    ];
    return spawnDetached(this.javaBin, [...jvmArgs, ...args], { logFile: this.logFile, cwd: cwd ?? this.dir });
  }

  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid !== undefined) await terminate(pid, this.ctx.config.stack.stopTimeoutMs);
  }

  /** A JVM is one process: SIGKILL it and wait until it is gone and its `ports` are free again. */
  async kill(ports: readonly { name: string; port: number }[]): Promise<number | undefined> {
    const pid = this.pid();
    if (pid === undefined) return undefined;
    await killNow([pid]);
    await waitForPortsFree(ports);
    return pid;
  }
}
