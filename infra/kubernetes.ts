/**
 * Kubernetes manifests for a project, rendered from its definitions (`npx sagaline k8s --config …`):
 * a Deployment per service of its participants, one for the saga monitor and one for the HTTP API
 * (the sagaline image, probes on /health, resources, settings from a ConfigMap and the database URL
 * from a Secret), and the Debezium connectors as Strimzi `KafkaConnect`/`KafkaConnector` resources —
 * the same connector configurations `provision` sends to Kafka Connect, with the database password
 * taken from the Secret through Strimzi's config provider instead of written out. Pure: no cluster is
 * asked anything. The databases, topics and schemas are still created by `sagaline provision`
 * (a Job in these manifests runs it once).
 */
import type { Config } from '../core/config.ts';
import { connectorForSource, renderConnectorConfig } from '../outbox-connector/connectors.ts';
import type { Project } from '../processors/engine/project.ts';
import { imageTags } from './images.ts';
import { outboxSources } from './provision-sagas.ts';

export interface KubernetesOptions {
  namespace: string;
  /** The sagaline image (default: the one `images build` tags). */
  image?: string;
  /** The project's config module as a path inside the image (or a volume mounted into it). */
  configPath: string;
  /** Name of the Strimzi KafkaConnect cluster the connectors run on. */
  connectCluster?: string;
  /** Name of the Secret holding DATABASE_URL and the database password. */
  databaseSecret?: string;
  /** How the processors and Connect reach Postgres in the cluster (its password is the Secret's). */
  databaseUrl?: string;
}

export const DEFAULT_CLUSTER_DATABASE_URL = 'postgres://sagaline@postgres:5432/sagaline';

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [key: string]: unknown };

const METRICS_PORT = 9464;

export function renderManifests(config: Config, project: Pick<Project, 'sagas' | 'participants' | 'streams'>, options: KubernetesOptions): Manifest[] {
  const ns = options.namespace;
  const image = options.image ?? imageTags(config.versions).sagaline;
  const cluster = options.connectCluster ?? 'sagaline-connect';
  const secret = options.databaseSecret ?? 'sagaline-database';
  const labels = (component: string) => ({ 'app.kubernetes.io/name': 'sagaline', 'app.kubernetes.io/component': component });
  const meta = (name: string, component: string) => ({ name, namespace: ns, labels: labels(component) });
  const envFrom = [{ configMapRef: { name: 'sagaline-config' } }, { secretRef: { name: secret } }];
  const config_ = ['--config', options.configPath];
  const probe = (port: number | string, path = '/health') => ({ httpGet: { path, port }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 });

  const deployment = (name: string, component: string, args: string[], port: { name: string; number: number }, probes: { live: string; ready: string }): Manifest => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, component),
    spec: {
      replicas: 1,
      selector: { matchLabels: { ...labels(component), 'app.kubernetes.io/instance': name } },
      template: {
        metadata: { labels: { ...labels(component), 'app.kubernetes.io/instance': name } },
        spec: {
          containers: [
            {
              name: 'sagaline',
              image,
              args,
              envFrom,
              ports: [{ name: port.name, containerPort: port.number }],
              livenessProbe: { ...probe(port.name, probes.live), initialDelaySeconds: 15 },
              readinessProbe: probe(port.name, probes.ready),
              resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { memory: '512Mi' } },
            },
          ],
          terminationGracePeriodSeconds: 30,
        },
      },
    },
  });

  // Where Connect reaches Postgres in the cluster, its password left out (the Secret has it).
  const connectDatabase = new URL(options.databaseUrl ?? DEFAULT_CLUSTER_DATABASE_URL);
  connectDatabase.password = 'from-the-secret';
  const withPassword = (password: string) => Object.assign(new URL(connectDatabase), { password }).toString();
  const services = [...new Set(project.participants.map((p) => p.service))].sort();
  const manifests: Manifest[] = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta('sagaline-config', 'config'),
      data: {
        KAFKA_BROKERS: 'sagaline-kafka-bootstrap:9092',
        SCHEMA_REGISTRY_URL: 'http://sagaline-registry:8080/apis/ccompat/v7',
        CONNECT_URL: `http://${cluster}-connect-api:8083`,
        SAGALINE_HTTP_HOST: '0.0.0.0',
        // The KafkaConnector resources below are the connectors: provisioning leaves them alone.
        SAGALINE_PROVISION_CONNECTORS: 'false',
        SAGALINE_API_PORT: String(config.api.port),
        LOG_LEVEL: 'info',
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(secret, 'config'),
      type: 'Opaque',
      // Placeholders: create the Secret with your own values (kubectl create secret generic …).
      stringData: { DATABASE_URL: withPassword('CHANGE-ME'), password: 'CHANGE-ME' },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta('sagaline-provision', 'provision'),
      spec: {
        backoffLimit: 10,
        template: {
          metadata: { labels: labels('provision') },
          spec: { restartPolicy: 'OnFailure', containers: [{ name: 'provision', image, args: ['provision', ...config_], envFrom, resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { memory: '512Mi' } } }] },
        },
      },
    },
    ...services.map((service) => deployment(`sagaline-${service}`, 'participant', ['run', ...config_, '--service', service, '--no-monitor', '--metrics-port', String(METRICS_PORT)], { name: 'metrics', number: METRICS_PORT }, { live: '/health', ready: '/health' })),
    deployment('sagaline-saga-monitor', 'saga-monitor', ['run', ...config_, '--monitor-only', '--metrics-port', String(METRICS_PORT)], { name: 'metrics', number: METRICS_PORT }, { live: '/health', ready: '/health' }),
    // The API's /health reports the whole pipeline (503 while any part is degraded): it is the
    // readiness signal; liveness asks only whether the process answers, so an outage elsewhere never restarts it.
    deployment('sagaline-api', 'api', ['serve', ...config_], { name: 'http', number: config.api.port }, { live: '/health/live', ready: '/health' }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('sagaline-api', 'api'),
      spec: { selector: { ...labels('api'), 'app.kubernetes.io/instance': 'sagaline-api' }, ports: [{ name: 'http', port: config.api.port, targetPort: 'http' }] },
    },
    {
      apiVersion: 'kafka.strimzi.io/v1beta2',
      kind: 'KafkaConnect',
      metadata: { ...meta(cluster, 'connect'), annotations: { 'strimzi.io/use-connector-resources': 'true' } },
      spec: {
        version: config.versions.kafka,
        replicas: 1,
        bootstrapServers: 'sagaline-kafka-bootstrap:9092',
        config: {
          'group.id': 'sagaline-connect',
          'config.storage.topic': '_sagaline-connect-configs',
          'offset.storage.topic': '_sagaline-connect-offsets',
          'status.storage.topic': '_sagaline-connect-status',
          'config.storage.replication.factor': -1,
          'offset.storage.replication.factor': -1,
          'status.storage.replication.factor': -1,
          'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
          'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
          'value.converter.schemas.enable': false,
          'offset.flush.interval.ms': 5000,
          'scheduled.rebalance.max.delay.ms': 0,
          'config.providers': 'secrets',
          'config.providers.secrets.class': 'io.strimzi.kafka.KubernetesSecretConfigProvider',
        },
        // Strimzi builds the worker image with the Debezium connector of the pinned version, from Maven Central.
        build: {
          output: { type: 'docker', image: `registry.example.com/sagaline/connect:${config.versions.debezium}` },
          plugins: [{ name: 'debezium-postgres', artifacts: [{ type: 'maven', group: 'io.debezium', artifact: 'debezium-connector-postgres', version: config.versions.debezium }] }],
        },
        resources: { requests: { cpu: '250m', memory: '768Mi' }, limits: { memory: '1Gi' } },
      },
    },
    ...(config.relay === 'debezium' ? outboxSources(project) : []).map((source): Manifest => {
      const rendered = renderConnectorConfig(connectorForSource(source), connectDatabase.toString());
      const { 'connector.class': connectorClass, 'tasks.max': tasksMax, ...rest } = rendered.config;
      return {
        apiVersion: 'kafka.strimzi.io/v1beta2',
        kind: 'KafkaConnector',
        metadata: { ...meta(rendered.name, 'connector'), labels: { ...labels('connector'), 'strimzi.io/cluster': cluster } },
        spec: {
          class: connectorClass,
          tasksMax: Number(tasksMax ?? 1),
          // Read from the Secret by the worker when it starts the connector: never written here.
          config: { ...rest, 'database.password': `\${secrets:${ns}/${secret}:password}` },
        },
      };
    }),
  ];
  return manifests;
}
