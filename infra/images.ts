/**
 * Container images of the stack and of sagaline itself, built locally (`npx sagaline images build`)
 * from the versions pinned in infra/versions.json and the artifacts the process stack fetches from
 * Maven Central: no image registry is needed. Each Dockerfile (infra/docker/<image>/) takes its base
 * as the build argument BASE — by default a Debian 12 base made here with debootstrap; where images
 * can be pulled, `--base debian:bookworm-slim` builds the same images on the official base — and
 * keeps the environment contract of the official image it stands in for, so infra/docker-compose.yml
 * runs with either set (its SAGALINE_*_IMAGE variables choose).
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PROJECT_ROOT, type Config, type Versions } from '../core/config.ts';
import { StackError } from '../core/errors.ts';
import { ensureArtifacts, type Progress } from './stack/artifacts.ts';
import { RegistryComponent } from './stack/registry.ts';
import { run } from './stack/processes.ts';

export const IMAGES = ['postgres', 'kafka', 'connect', 'registry', 'sagaline'] as const;
export type ImageName = (typeof IMAGES)[number];

/** The base made here from Debian's packages when no `--base` is given. */
export const LOCAL_BASE = 'sagaline/debian:bookworm';

/**
 * The variable naming each image in infra/docker-compose.yml (which defaults each to the official
 * image; infra/versions.unit.spec.ts checks those defaults). SAGALINE_IMAGE is not used by our
 * compose file: it is written for compose files of users' own services built on the sagaline image.
 */
export const COMPOSE_VARIABLES: Record<ImageName, string> = {
  postgres: 'SAGALINE_POSTGRES_IMAGE',
  kafka: 'SAGALINE_KAFKA_IMAGE',
  connect: 'SAGALINE_CONNECT_IMAGE',
  registry: 'SAGALINE_REGISTRY_IMAGE',
  sagaline: 'SAGALINE_IMAGE',
};

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The tag each image is built under. */
export function imageTags(versions: Versions): Record<ImageName, string> {
  return {
    postgres: `sagaline/postgres:${versions.postgres}`,
    kafka: `sagaline/kafka:${versions.kafka}`,
    connect: `sagaline/connect:${versions.debezium}`,
    registry: `sagaline/registry:${versions.apicurio}`,
    sagaline: `sagaline/sagaline:${packageVersion()}`,
  };
}

export interface BuildOptions {
  /** Base image for every Dockerfile (default: LOCAL_BASE, made with debootstrap when missing). */
  base?: string;
  only?: readonly ImageName[];
  progress?: Progress;
}

export interface BuiltImage {
  image: ImageName;
  tag: string;
  seconds: number;
}

async function docker(args: string[], what: string, progress?: Progress): Promise<string> {
  const res = await run('docker', args, { onLine: progress ? (line) => line.trim() && !/legacy builder|buildx|docs\.docker\.com/i.test(line) && progress(`  ${line}`) : undefined }).catch((err: Error) => {
    throw new StackError('MISSING_BINARY', `docker is not installed or not on PATH (${err.message}); run infra/install-prerequisites.sh`);
  });
  if (res.code !== 0) throw new StackError('COMMAND_FAILED', `${what} failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return res.stdout.trim();
}

/** The engine's version, or a StackError saying in one line why it does not answer. */
export async function dockerEngine(): Promise<string> {
  return docker(['version', '--format', '{{.Server.Version}}'], 'asking the Docker engine for its version (is dockerd running?)');
}

export async function imageExists(tag: string): Promise<boolean> {
  return (await builtFrom(tag)) !== undefined;
}

/** The label an image carries: a hash of the files it was built from (infra/docker/<image>/). */
const CONTEXT_LABEL = 'sagaline.context';

/** The context hash an image was built from ('' for an image without one), or undefined when it does not exist. */
async function builtFrom(tag: string): Promise<string | undefined> {
  const res = await run('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${CONTEXT_LABEL}"}}`, tag]).catch(() => ({ code: 1, stdout: '' }));
  return res.code === 0 ? res.stdout.trim().replace('<no value>', '') : undefined;
}

/** The images an image is built on, first, then the image: Connect's Dockerfile starts FROM the Kafka image. */
function withBuiltOn(images: readonly ImageName[]): ImageName[] {
  return IMAGES.filter((i) => images.includes(i) || (i === 'kafka' && images.includes('connect')));
}

/** Every file under a path, sorted, leaving out tests and installed packages. */
function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .filter((name) => name !== 'node_modules' && !name.endsWith('.spec.ts'))
    .flatMap((name) => filesUnder(join(path, name)));
}

/**
 * A hash of what an image is built from: its Dockerfile and scripts (Connect's include Kafka's, as
 * it is built on it) and, for the sagaline image, the project files it copies in — so an image
 * built from other sources is seen as stale and rebuilt.
 */
export function contextHash(image: ImageName): string {
  const hash = createHash('sha256');
  const inputs = withBuiltOn([image]).map((name) => join(PROJECT_ROOT, 'infra', 'docker', name));
  if (image === 'sagaline') inputs.push(...projectFiles().map((f) => join(PROJECT_ROOT, f)));
  for (const file of inputs.flatMap(filesUnder)) hash.update(`${relative(PROJECT_ROOT, file)}\0`).update(readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** A minimal Debian 12 root file system from Debian's mirror, imported as LOCAL_BASE. */
async function ensureLocalBase(progress: Progress): Promise<void> {
  if (await imageExists(LOCAL_BASE)) return;
  const root = join(tmpdir(), `sagaline-debootstrap-${process.pid}`);
  progress(`base: debootstrap --variant=minbase bookworm (about a minute)…`);
  try {
    const res = await run('debootstrap', ['--variant=minbase', 'bookworm', root, 'http://deb.debian.org/debian']).catch((err: Error) => {
      throw new StackError('MISSING_BINARY', `debootstrap is not installed (${err.message}): run infra/install-prerequisites.sh, or give --base debian:bookworm-slim where images can be pulled`);
    });
    if (res.code !== 0) throw new StackError('COMMAND_FAILED', `debootstrap failed: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    rmSync(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
    const imported = await run('sh', ['-c', `tar -C "${root}" -c . | docker import -c 'CMD ["bash"]' - ${LOCAL_BASE}`]);
    if (imported.code !== 0) throw new StackError('COMMAND_FAILED', `docker import of the base failed: ${imported.stderr.trim()}`);
    progress(`base: ${LOCAL_BASE}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Copies a directory into a build context, as hard links where the file system allows (fast, no space). */
async function stageDir(from: string, to: string): Promise<void> {
  const linked = await run('cp', ['-al', from, to]).catch(() => ({ code: 1 }));
  if (linked.code !== 0) {
    rmSync(to, { recursive: true, force: true });
    cpSync(from, to, { recursive: true, dereference: true });
  }
}

/** The files of the project an installation has (package.json "files"), plus the examples. */
function projectFiles(): string[] {
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { files: string[] };
  return [...new Set([...pkg.files.filter((f) => !f.startsWith('!') && f !== 'dist'), 'examples', 'package.json', 'package-lock.json', 'README.md'])].filter((f) => existsSync(join(PROJECT_ROOT, f)));
}

export async function buildImages(config: Config, options: BuildOptions = {}): Promise<BuiltImage[]> {
  const progress = options.progress ?? (() => undefined);
  await dockerEngine();
  const base = options.base ?? LOCAL_BASE;
  if (!options.base) await ensureLocalBase(progress);
  const artifacts = await ensureArtifacts(config.stack, config.versions, progress);
  const tags = imageTags(config.versions);
  const wanted = options.only ?? IMAGES;
  // Connect is built on the Kafka image: build that first when Connect is asked for.
  const order = withBuiltOn(wanted);
  const contexts = join(config.stack.stateDir, 'images');
  const built: BuiltImage[] = [];
  for (const image of order) {
    if (image === 'kafka' && !wanted.includes('kafka') && (await builtFrom(tags.kafka)) === contextHash('kafka')) continue;
    const t0 = Date.now();
    const ctx = join(contexts, image);
    rmSync(ctx, { recursive: true, force: true });
    mkdirSync(contexts, { recursive: true });
    cpSync(join(PROJECT_ROOT, 'infra', 'docker', image), ctx, { recursive: true });
    const buildArgs = [`BASE=${base}`];
    if (image === 'kafka') await stageDir(artifacts.kafkaLibs, join(ctx, 'libs'));
    if (image === 'connect') {
      await stageDir(artifacts.connectPluginPath, join(ctx, 'plugins'));
      buildArgs.push(`KAFKA_IMAGE=${tags.kafka}`);
    }
    if (image === 'registry') {
      const java = RegistryComponent.java({ config, logsDir: '' });
      if (!java) throw new StackError('MISSING_BINARY', `no Java ${RegistryComponent.MIN_JAVA}+ runtime found to put in the registry image: install a JDK ${RegistryComponent.MIN_JAVA}+ under /usr/lib/jvm, or set SAGALINE_REGISTRY_JAVA`);
      await stageDir(join(realpathSync(java), '..', '..'), join(ctx, 'java'));
      await stageDir(artifacts.registryHome, join(ctx, 'app'));
    }
    if (image === 'sagaline') {
      const app = join(ctx, 'app');
      mkdirSync(app);
      for (const f of projectFiles()) cpSync(join(PROJECT_ROOT, f), join(app, f), { recursive: true, filter: (src) => !/\.spec\.ts$/.test(src) });
      // The runtime dependencies only, as `npm ci` installs them from the lock file.
      const npm = await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app });
      if (npm.code !== 0) throw new StackError('COMMAND_FAILED', `npm ci for the sagaline image failed: ${npm.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      // This Node.js, so the image runs the version the project is tested with (Debian 12 has Node 18).
      cpSync(process.execPath, join(ctx, 'node'));
    }
    progress(`${image}: building ${tags[image]} on ${base}…`);
    await docker(['build', '-q', ...buildArgs.flatMap((a) => ['--build-arg', a]), '--label', `${CONTEXT_LABEL}=${contextHash(image)}`, '-t', tags[image], ctx], `building ${tags[image]}`);
    rmSync(ctx, { recursive: true, force: true });
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    progress(`${image}: ${tags[image]} (${seconds} s)`);
    built.push({ image, tag: tags[image], seconds });
  }
  return built;
}

/** The compose variables pointing at the images built here, as an env file for `docker compose --env-file`. */
export function composeEnv(versions: Versions): string {
  const tags = imageTags(versions);
  return IMAGES.map((i) => `${COMPOSE_VARIABLES[i]}=${tags[i]}`).join('\n') + '\n';
}

export function writeComposeEnv(config: Config): string {
  const file = join(config.stack.stateDir, 'images.env');
  mkdirSync(config.stack.stateDir, { recursive: true });
  writeFileSync(file, composeEnv(config.versions));
  return file;
}

/** Builds those of `images` not built yet, or built from other Dockerfiles than these (a test's or a harness's first step); returns the tags. */
export async function ensureImages(config: Config, images: readonly ImageName[], progress?: Progress): Promise<Record<ImageName, string>> {
  await dockerEngine();
  const tags = imageTags(config.versions);
  const missing: ImageName[] = [];
  for (const image of withBuiltOn(images)) if ((await builtFrom(tags[image])) !== contextHash(image)) missing.push(image);
  if (missing.length) await buildImages(config, { only: missing, base: process.env.SAGALINE_IMAGE_BASE || undefined, progress });
  return tags;
}
