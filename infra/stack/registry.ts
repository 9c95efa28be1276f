/**
 * Apicurio Registry 3.x, answering the Confluent-compatible API at /apis/ccompat/v7, storing
 * schemas in the stack's Postgres so ids survive restarts (stored events stay decodable).
 */
import { join } from 'node:path';
import { DEFAULTS, SECURE_USER, secureMaterialPaths } from '../../core/config.ts';
import type { Artifacts } from './artifacts.ts';
import { httpOk, logFileOf, type Component, type ComponentContext } from './component.ts';
import { findJava, javaMajor, JvmProcess, writeProperties } from './jvm.ts';
import { probeRegistry } from './health.ts';

export class RegistryComponent implements Component {
  readonly name = 'registry' as const;
  readonly url: string;
  readonly ports;
  readonly logFile: string;
  private readonly jvm: JvmProcess;
  private readonly managementUrl: string;

  constructor(private readonly ctx: ComponentContext) {
    const { ports, heapMb } = ctx.config.stack;
    this.url = ctx.config.schemaRegistryUrl;
    // Quarkus serves health on a separate management interface (its default port, 9000, is often taken).
    this.managementUrl = `http://127.0.0.1:${ports.registryManagement}`;
    this.ports = [
      { name: 'registry', port: ports.registry },
      { name: 'registry management', port: ports.registryManagement },
    ];
    this.logFile = logFileOf(ctx.logsDir, 'registry');
    this.javaBin = RegistryComponent.java(ctx);
    this.jvm = new JvmProcess(ctx, 'registry', heapMb.registry, this.logFile, this.javaBin ?? ctx.config.stack.javaBin);
  }

  /** Apicurio Registry 3.3 is compiled for Java 21 (class file 65): Kafka and Connect stay on 17. */
  static readonly MIN_JAVA = 21;
  private readonly javaBin: string | undefined;

  static java(ctx: ComponentContext): string | undefined {
    const { registryJavaBin, javaBin } = ctx.config.stack;
    if (registryJavaBin) return (javaMajor(registryJavaBin) ?? 0) >= RegistryComponent.MIN_JAVA ? registryJavaBin : undefined;
    return findJava(javaBin, RegistryComponent.MIN_JAVA);
  }

  static preflight(ctx: ComponentContext): string[] {
    if (RegistryComponent.java(ctx)) return [];
    const given = ctx.config.stack.registryJavaBin;
    return [
      given
        ? `SAGALINE_REGISTRY_JAVA=${given} is not a Java ${RegistryComponent.MIN_JAVA}+ runtime, which Apicurio Registry ${ctx.config.versions.apicurio} needs`
        : `no Java ${RegistryComponent.MIN_JAVA}+ runtime found (Apicurio Registry ${ctx.config.versions.apicurio} needs one): install a JDK ${RegistryComponent.MIN_JAVA}+ under /usr/lib/jvm, or set SAGALINE_REGISTRY_JAVA`,
    ];
  }

  pid(): number | undefined {
    return this.jvm.pid();
  }

  async start(artifacts: Artifacts): Promise<number> {
    const { ports, postgresUser, postgresPassword } = this.ctx.config.stack;
    const props: Record<string, string | number> = {
      'quarkus.http.host': '127.0.0.1',
      'quarkus.http.port': ports.registry,
      'quarkus.management.host': '127.0.0.1',
      'quarkus.management.port': ports.registryManagement,
      'quarkus.http.access-log.enabled': 'false',
      'apicurio.storage.kind': 'sql',
      'apicurio.storage.sql.kind': 'postgresql',
      'apicurio.datasource.url': `jdbc:postgresql://127.0.0.1:${ports.postgres}/${DEFAULTS.registryDatabase}`,
      'apicurio.datasource.username': postgresUser,
      'apicurio.datasource.password': postgresPassword,
      // The defaults (20 initial, 100 max) would take half of Postgres' connection slots.
      'apicurio.datasource.jdbc.initial-size': 2,
      'apicurio.datasource.jdbc.min-size': 2,
      'apicurio.datasource.jdbc.max-size': 10,
      'apicurio.storage.snapshot.location': join(this.jvm.dir, 'snapshots'),
    };
    const { secure, stateDir } = this.ctx.config.stack;
    const { schemaRegistry } = this.ctx.config;
    if (secure && schemaRegistry.password !== undefined) {
      // The secured stack: https only, every API call with basic auth (the embedded user store
      // Apicurio ships, plain-text password), Postgres over verified TLS. Passwords go in a file only
      // the owner reads (named on the command line), never on the command line itself.
      const tls = secureMaterialPaths(stateDir);
      delete props['quarkus.http.port'];
      const secretsFile = join(this.jvm.dir, 'secure.properties');
      writeProperties(secretsFile, {
        'quarkus.http.ssl-port': ports.registry,
        'quarkus.http.insecure-requests': 'disabled',
        'quarkus.http.ssl.certificate.files': tls.certFile,
        'quarkus.http.ssl.certificate.key-files': tls.keyFile,
        'quarkus.http.auth.basic': 'true',
        'quarkus.security.users.embedded.enabled': 'true',
        'quarkus.security.users.embedded.plain-text': 'true',
        [`quarkus.security.users.embedded.users.${SECURE_USER}`]: schemaRegistry.password,
        'quarkus.http.auth.permission.authenticated.paths': '/*',
        'quarkus.http.auth.permission.authenticated.policy': 'authenticated',
        'apicurio.datasource.url': `${props['apicurio.datasource.url']}?sslmode=verify-full&sslrootcert=${tls.caFile}`,
        'apicurio.datasource.password': postgresPassword,
      }, true);
      delete props['apicurio.datasource.url'];
      delete props['apicurio.datasource.password'];
      props['quarkus.config.locations'] = secretsFile;
    }
    const sysProps = Object.entries(props).map(([k, v]) => `-D${k}=${v}`);
    return this.jvm.launch([...sysProps, '-jar', join(artifacts.registryHome, 'quarkus-run.jar')], artifacts.registryHome);
  }

  async probe(): Promise<string | undefined> {
    try {
      const health = await httpOk(`${this.managementUrl}/health/ready`);
      if (!health.ok) return `GET /health/ready answered ${health.status}`;
      return await probeRegistry(this.ctx.config.schemaRegistry);
    } catch (err) {
      return (err as Error).message;
    }
  }

  stop(): Promise<void> {
    return this.jvm.stop();
  }

  kill(): Promise<number | undefined> {
    return this.jvm.kill(this.ports);
  }
}
