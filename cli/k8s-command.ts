import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfig } from '../core/config.ts';
import { DEFAULT_CLUSTER_DATABASE_URL, renderManifests, type Manifest } from '../infra/kubernetes.ts';
import { loadProject } from '../processors/engine/project.ts';
import { CONFIG_OPTION } from './own-saga-commands.ts';
import { progress } from './output.ts';

/** Several manifests as one YAML stream. */
export function toYaml(manifests: readonly Manifest[]): string {
  return manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}

export function k8sCommand(): Command {
  return new Command('k8s')
    .description("render Kubernetes manifests for the project: a Deployment per service, the saga monitor and the API (the sagaline image), a provisioning Job, and its Debezium connectors as Strimzi KafkaConnect/KafkaConnector resources (the database password comes from a Secret, never the manifests)")
    .option(...CONFIG_OPTION)
    .option('--namespace <name>', 'namespace of every resource', 'sagaline')
    .option('--image <image>', 'the sagaline image (default: the tag `images build` gives it)')
    .option('--config-path <path>', 'the config module as a path inside the image (default: --config, relative to the current folder)')
    .option('--database-url <url>', 'how the processors and Connect reach Postgres in the cluster, without its password (the Secret holds it)', DEFAULT_CLUSTER_DATABASE_URL)
    .option('--out <file>', 'write the manifests to a file instead of standard output')
    .action(async (opts: { config?: string | true; namespace: string; image?: string; configPath?: string; databaseUrl: string; out?: string }) => {
      const config = loadConfig();
      const project = await loadProject(opts.config ?? true);
      const yaml = toYaml(renderManifests(config, project, { namespace: opts.namespace, image: opts.image, configPath: opts.configPath ?? relative(process.cwd(), project.file), databaseUrl: opts.databaseUrl }));
      if (!opts.out) return void process.stdout.write(yaml);
      writeFileSync(opts.out, yaml);
      progress(`manifests for ${project.sagas.map((s) => s.name).join(', ')} written to ${opts.out}`);
    });
}
