import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { KafkaConnect } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaConnect';
import { KafkaConnector } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaConnector';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { toYaml } from '../cli/k8s-command.ts';
import { loadConfig, PROJECT_ROOT } from '../core/config.ts';
import { connectorForSource, renderConnectorConfig } from '../outbox-connector/connectors.ts';
import { loadProject } from '../processors/engine/project.ts';
import { DEFAULT_CLUSTER_DATABASE_URL, renderManifests, type Manifest } from './kubernetes.ts';
import { outboxSources } from './provision-sagas.ts';

/** The offline check: each manifest against the JSON schema of its kind (Kubernetes' OpenAPI, Strimzi's CRDs). */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'kafka.strimzi.io/v1beta2/KafkaConnect': KafkaConnect,
  'kafka.strimzi.io/v1beta2/KafkaConnector': KafkaConnector,
};

const validate = (m: Manifest) => {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (!Model) throw new Error(`no schema for ${m.apiVersion} ${m.kind}`);
  new Model(m as never).validate();
};

describe('Kubernetes manifests rendered from a project', async () => {
  const CONFIG = join(PROJECT_ROOT, 'examples', 'ml-training', 'sagaline.config.ts');
  const project = await loadProject(CONFIG);
  const config = loadConfig({});
  const manifests = renderManifests(config, project, { namespace: 'sagaline', configPath: relative(PROJECT_ROOT, CONFIG) });

  it('given the training example, then every manifest passes the schema of its kind, and the checked-in file is that rendering', () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests) expect(() => validate(m), `${m.kind} ${m.metadata.name}`).not.toThrow();
    // infra/kubernetes/ml-training.yaml is `npx sagaline k8s --config examples/ml-training/sagaline.config.ts`
    const committed = parseAllDocuments(readFileSync(join(PROJECT_ROOT, 'infra', 'kubernetes', 'ml-training.yaml'), 'utf8')).map((d) => d.toJSON());
    expect(committed).toEqual(parseAllDocuments(toYaml(manifests)).map((d) => d.toJSON()));
  });

  it('given a broken manifest, then the schema check refuses it (the check can fail)', () => {
    const deployment = manifests.find((m) => m.kind === 'Deployment')!;
    const broken = structuredClone(deployment) as Manifest & { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'metrics';
    expect(() => validate(broken)).toThrow(/containerPort must be integer/);
  });

  it('given the training example, then each service, the saga monitor and the API run as a Deployment probed on /health, configured from the ConfigMap and the Secret', () => {
    const deployments = manifests.filter((m) => m.kind === 'Deployment') as (Manifest & { spec: { template: { spec: { containers: { args: string[]; envFrom: unknown[]; livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; resources: unknown }[] } } } })[];
    const services = [...new Set(project.participants.map((p) => p.service))].sort();
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...services.map((s) => `sagaline-${s}`), 'sagaline-api', 'sagaline-saga-monitor'].sort());
    for (const d of deployments) {
      const [c] = d.spec.template.spec.containers;
      expect(c!.readinessProbe.httpGet.path).toBe('/health');
      expect(c!.livenessProbe.httpGet.path).toMatch(/^\/health/);
      expect(c!.envFrom).toEqual([{ configMapRef: { name: 'sagaline-config' } }, { secretRef: { name: 'sagaline-database' } }]);
      expect(c!.resources).toBeDefined();
    }
  });

  it('given the training example, then its connectors are KafkaConnectors with the configuration provision sends, the password taken from the Secret', () => {
    const connectors = manifests.filter((m) => m.kind === 'KafkaConnector') as (Manifest & { spec: { class: string; config: Record<string, string> } })[];
    const expected = outboxSources(project).map((s) => renderConnectorConfig(connectorForSource(s), DEFAULT_CLUSTER_DATABASE_URL.replace('sagaline@', 'sagaline:x@')));
    expect(connectors.map((c) => c.metadata.name).sort()).toEqual(expected.map((e) => e.name).sort());
    for (const e of expected) {
      const c = connectors.find((x) => x.metadata.name === e.name)!;
      const { 'connector.class': cls, 'tasks.max': _tasks, 'database.password': _password, ...rest } = e.config;
      expect(c.spec.class).toBe(cls);
      expect(c.spec.config).toEqual({ ...rest, 'database.password': '${secrets:sagaline/sagaline-database:password}' });
      expect(c.metadata.labels?.['strimzi.io/cluster']).toBe('sagaline-connect');
    }
    expect(JSON.stringify(manifests.filter((m) => m.kind !== 'Secret'))).not.toMatch(/CHANGE-ME|sagaline:sagaline@/);
  });
});
