/**
 * PostgreSQL from the machine's server binaries, as its own cluster in the state directory.
 *
 * initdb and postgres refuse to run as root, so when we are root every server command runs as
 * the `postgres` system user through runuser, and the cluster's folder belongs to that user.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { DEFAULTS, secureMaterialPaths } from '../../core/config.ts';
import { StackError } from '../../core/errors.ts';
import type { Component, ComponentContext } from './component.ts';
import { childrenOf, exists, isOurs, killNow, parentOf, run, spawnDetached, stateOf, tail, waitForPortsFree, which } from './processes.ts';
import { waitFor } from '../../core/wait.ts';

const SERVER_BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;

/**
 * The secured stack's client authentication: TLS and a password on every TCP connection (replication
 * too); a connection without TLS is refused. The socket (used by nobody but an operator's psql) trusts.
 */
export const SECURE_HBA = [
  'local all all trust',
  'local replication all trust',
  'hostssl all all 127.0.0.1/32 scram-sha-256',
  'hostssl replication all 127.0.0.1/32 scram-sha-256',
  'hostnossl all all 0.0.0.0/0 reject',
  'hostnossl replication all 0.0.0.0/0 reject',
].join('\n') + '\n';

export function postgresSettings(ctx: ComponentContext, socketDir: string, tlsDir?: string): Record<string, string | number> {
  return {
    ...(tlsDir ? { ssl: 'on', ssl_cert_file: `'${join(tlsDir, 'server.pem')}'`, ssl_key_file: `'${join(tlsDir, 'server.key')}'`, hba_file: `'${join(tlsDir, 'pg_hba.conf')}'` } : {}),
    port: ctx.config.stack.ports.postgres,
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${socketDir}'`,
    // Debezium reads the WAL through logical decoding (pgoutput).
    wal_level: 'logical',
    // One slot and sender per connector (one connector per service database), with room to spare.
    max_wal_senders: 20,
    max_replication_slots: 20,
    // A slot whose connector is gone must not fill the disk: beyond this it is invalidated.
    max_slot_wal_keep_size: "'4GB'",
    // PREPARE TRANSACTION is refused while this is 0 (the two-phase commit coordinator needs it).
    max_prepared_transactions: 64,
    max_connections: 200,
    shared_buffers: "'128MB'",
    log_line_prefix: "'%m [%p] %d '",
  };
}

export class PostgresComponent implements Component {
  readonly name = 'postgres' as const;
  readonly url: string;
  readonly ports;
  readonly logFile: string;
  private readonly dir: string;
  private readonly dataDir: string;
  private readonly socketDir: string;
  private readonly asRoot = process.getuid?.() === 0;

  constructor(private readonly ctx: ComponentContext) {
    const { stack } = ctx.config;
    this.url = `postgres://127.0.0.1:${stack.ports.postgres}`;
    this.ports = [{ name: 'postgres', port: stack.ports.postgres }];
    this.dir = join(stack.stateDir, 'postgres');
    this.dataDir = join(this.dir, 'data');
    this.socketDir = join(this.dir, 'run');
    this.logFile = join(this.dir, 'postgres.log');
  }

  /** Missing binaries, as one line each; empty when everything is installed. */
  static preflight(ctx: ComponentContext): string[] {
    const problems: string[] = [];
    const binDir = ctx.config.stack.postgresBinDir;
    const missing = SERVER_BINARIES.filter((b) => !which(join(binDir, b)));
    if (missing.length > 0) {
      problems.push(
        `PostgreSQL server binaries not found: ${missing.join(', ')} missing in ${binDir} (install postgresql-${ctx.config.versions.postgres}, or set SAGALINE_PG_BIN_DIR)`,
      );
    }
    if (process.getuid?.() === 0) {
      if (!which('runuser')) problems.push('runuser not found: needed to run PostgreSQL as the postgres user when running as root');
      else if (!existsSync('/etc/passwd') || !/^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'))) {
        problems.push('no "postgres" system user: PostgreSQL refuses to run as root and needs that user (install the postgresql package)');
      }
    }
    return problems;
  }

  private bin(name: (typeof SERVER_BINARIES)[number]): string {
    return join(this.ctx.config.stack.postgresBinDir, name);
  }

  /** Runs a server command, as the postgres user when we are root. */
  private command(bin: string, args: string[]): [string, string[]] {
    return this.asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  }

  pid(): number | undefined {
    const pidFile = join(this.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && isOurs(pid, this.dataDir) ? pid : undefined;
  }

  async start(): Promise<number> {
    mkdirSync(this.socketDir, { recursive: true });
    if (this.asRoot) await this.chownToPostgres();
    if (!existsSync(join(this.dataDir, 'PG_VERSION'))) await this.initdb();
    const tlsDir = this.ctx.config.stack.secure ? this.writeTls() : undefined;
    writeFileSync(
      join(this.dataDir, 'sagaline.conf'),
      Object.entries(postgresSettings(this.ctx, this.socketDir, tlsDir)).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n',
    );
    if (this.asRoot) await this.chownToPostgres();
    const [cmd, args] = this.command(this.bin('postgres'), ['-D', this.dataDir]);
    // postgres itself, not pg_ctl: its output goes to our log and it is the process we wait on.
    return spawnDetached(cmd, args, { logFile: this.logFile });
  }

  /** The secured stack: the server's certificate and key (the server reads its key only when the key is its own and private) and the TLS-only pg_hba. */
  private writeTls(): string {
    const tlsDir = join(this.dir, 'tls');
    const material = secureMaterialPaths(this.ctx.config.stack.stateDir);
    mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    copyFileSync(material.certFile, join(tlsDir, 'server.pem'));
    copyFileSync(material.keyFile, join(tlsDir, 'server.key'));
    chmodSync(join(tlsDir, 'server.key'), 0o600);
    writeFileSync(join(tlsDir, 'pg_hba.conf'), SECURE_HBA);
    return tlsDir;
  }

  private async chownToPostgres(): Promise<void> {
    const res = await run('chown', ['-R', 'postgres:postgres', this.dir]);
    if (res.code !== 0) throw new StackError('STATE_INVALID', `cannot give ${this.dir} to the postgres user: ${res.stderr.trim()}`);
    const reach = await run('runuser', ['-u', 'postgres', '--', 'test', '-w', this.dir]);
    if (reach.code !== 0) {
      throw new StackError(
        'STATE_INVALID',
        `the postgres system user cannot reach ${this.dir}; set SAGALINE_STATE_DIR to a directory every user can traverse`,
      );
    }
  }

  private async initdb(): Promise<void> {
    const pwFile = join(this.dir, '.pwfile');
    writeFileSync(pwFile, `${this.ctx.config.stack.postgresPassword}\n`, { mode: 0o600 });
    if (this.asRoot) await this.chownToPostgres();
    try {
      const [cmd, args] = this.command(this.bin('initdb'), [
        '-D', this.dataDir,
        '-U', this.ctx.config.stack.postgresUser,
        `--pwfile=${pwFile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E', 'UTF8',
        '--locale=C',
      ]);
      const res = await run(cmd, args);
      if (res.code !== 0) {
        throw new StackError('COMMAND_FAILED', `initdb failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      }
    } finally {
      rmSync(pwFile, { force: true });
    }
    appendFileSync(join(this.dataDir, 'postgresql.conf'), "\n# sagaline's settings (rewritten at every start)\ninclude_if_exists = 'sagaline.conf'\n");
  }

  /** Ready when it answers a query; on first readiness it also creates the stack's databases. */
  async probe(): Promise<string | undefined> {
    const client = this.client('postgres');
    try {
      await client.connect();
      for (const db of [DEFAULTS.postgresDatabase, DEFAULTS.registryDatabase]) {
        const exists = await client.query('select 1 from pg_database where datname = $1', [db]);
        if (exists.rowCount === 0) await client.query(`create database ${pg.escapeIdentifier(db)}`);
      }
      return undefined;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private client(database: string): pg.Client {
    return new pg.Client({
      host: '127.0.0.1',
      port: this.ctx.config.stack.ports.postgres,
      user: this.ctx.config.stack.postgresUser,
      password: this.ctx.config.stack.postgresPassword,
      database,
      connectionTimeoutMillis: 2_000,
      ...(this.ctx.config.stack.secure ? { ssl: { ca: readFileSync(secureMaterialPaths(this.ctx.config.stack.stateDir).caFile, 'utf8') } } : {}),
    });
  }

  /**
   * The server as the OOM killer takes it: the postmaster and every process it forked (backends,
   * WAL senders, checkpointer…) die at once. The postmaster is stopped first so it forks nothing
   * more while its children are listed. Resolves once all of them are gone and the postmaster is
   * reaped: a restart refuses to start while any of them still holds the old shared memory, or
   * while the pid in postmaster.pid still answers (a zombie does).
   */
  async kill(): Promise<number | undefined> {
    const pid = this.pid();
    if (pid === undefined) return undefined;
    const parent = parentOf(pid);
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      return pid; // gone already
    }
    await waitFor(`postmaster ${pid} to be stopped`, () => [undefined, 'T', 'Z', 'X'].includes(stateOf(pid)), { timeoutMs: 10_000, intervalMs: 10 });
    // Children first: none is left alive to notice the postmaster's death and say goodbye to its clients.
    await killNow([...childrenOf(pid), pid]);
    // runuser stops itself when its child stops; it must run again to reap the postmaster.
    if (parent !== undefined && isOurs(parent, this.dataDir)) process.kill(parent, 'SIGCONT');
    await waitFor(`the killed postmaster ${pid} to be reaped`, () => !exists(pid), { timeoutMs: 10_000, intervalMs: 50 });
    await waitForPortsFree(this.ports);
    return pid;
  }

  async stop(): Promise<void> {
    if (this.pid() === undefined) return;
    const [cmd, args] = this.command(this.bin('pg_ctl'), ['stop', '-D', this.dataDir, '-m', 'fast', '-w', '-t', String(Math.ceil(this.ctx.config.stack.stopTimeoutMs / 1000))]);
    const res = await run(cmd, args);
    if (res.code !== 0 && this.pid() !== undefined) {
      throw new StackError('COMMAND_FAILED', `pg_ctl stop failed: ${(res.stderr || res.stdout).trim()}`, { logTail: tail(this.logFile) });
    }
  }
}
