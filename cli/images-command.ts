import { Command, Option } from 'commander';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { buildImages, IMAGES, LOCAL_BASE, writeComposeEnv, type ImageName } from '../infra/images.ts';
import { printJson, progress, table } from './output.ts';

export function imagesCommand(): Command {
  const images = new Command('images').description('container images of the stack and of sagaline, built locally (infra/docker/)');
  images
    .command('build')
    .description(`build the images from infra/versions.json and the artifacts the process stack fetches; writes the compose variables naming them to <state dir>/images.env`)
    .addOption(new Option('--base <image>', `base image of every Dockerfile (default: ${LOCAL_BASE}, made here with debootstrap)`).env('SAGALINE_IMAGE_BASE'))
    .option('--only <images>', `some of: ${IMAGES.join(', ')}`)
    .option('--json', 'print what was built as JSON')
    .action(async (opts: { base?: string; only?: string; json?: boolean }) => {
      const only = opts.only?.split(',').map((s) => s.trim());
      const unknown = only?.filter((s) => !(IMAGES as readonly string[]).includes(s)) ?? [];
      if (unknown.length) throw new ConfigError(`--only: unknown image ${unknown.join(', ')} (choose from ${IMAGES.join(', ')})`);
      const config = loadConfig();
      const built = await buildImages(config, { base: opts.base, only: only as ImageName[] | undefined, progress: opts.json ? undefined : progress });
      const envFile = writeComposeEnv(config);
      if (opts.json) return printJson({ built, envFile });
      console.log(table(built.map((b) => ({ image: b.image, tag: b.tag, seconds: b.seconds }))));
      progress(`compose variables: ${envFile}  (docker compose --env-file ${envFile} -f infra/docker-compose.yml up -d)`);
    });
  return images;
}
