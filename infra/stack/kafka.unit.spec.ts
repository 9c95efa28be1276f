import { describe, expect, it } from 'vitest';
import { cleanerBufferBytes, newClusterId, nodeProperties } from './kafka.ts';
import { javaClientSecurity } from './connect.ts';
import { replicationFor } from '../../topics/provision.ts';

describe('newClusterId', () => {
  it('is a 16-byte UUID in URL-safe base64 without padding, as the Kafka storage tool expects', () => {
    const id = newClusterId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(newClusterId()).not.toBe(id);
  });
});

describe('nodeProperties', () => {
  const ports = { kafka: 29092, kafkaController: 29093 };

  it('given one node, then it is its own quorum and nothing is replicated', () => {
    const p = nodeProperties(0, 1, ports, '/data', 512);
    expect(p['controller.quorum.voters']).toBe('1@127.0.0.1:29093');
    expect(p.listeners).toBe('PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093');
    expect([p['default.replication.factor'], p['min.insync.replicas'], p['offsets.topic.replication.factor']]).toEqual([1, 1, 1]);
  });

  it('given three nodes, then each votes in one quorum on ports two apart, with three replicas and two in sync', () => {
    const third = nodeProperties(2, 3, ports, '/data3', 256);
    expect(third['node.id']).toBe(3);
    expect(third['controller.quorum.voters']).toBe('1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097');
    expect(third['advertised.listeners']).toBe('PLAINTEXT://127.0.0.1:29096');
    expect([third['default.replication.factor'], third['min.insync.replicas'], third['offsets.topic.replication.factor'], third['transaction.state.log.min.isr']]).toEqual([3, 2, 3, 2]);
  });

  it('given a small heap, then the log cleaner gets an eighth of it, not its 128 MB default', () => {
    // 128 MB taken at start from a 256 MB heap ended a test node with OutOfMemoryError now and then
    expect(nodeProperties(0, 3, ports, '/data', 256)['log.cleaner.dedupe.buffer.size']).toBe(32 * 1024 * 1024);
    expect([64, 512, 2048].map((mb) => cleanerBufferBytes(mb) / 1024 / 1024)).toEqual([8, 64, 128]);
  });
});

describe('replicationFor', () => {
  it('given the brokers a cluster has, then new topics get up to three replicas and need two in sync only when they have three', () => {
    expect([1, 2, 3, 5].map(replicationFor)).toEqual([
      { replicationFactor: 1, minInsyncReplicas: 1 },
      { replicationFactor: 2, minInsyncReplicas: 1 },
      { replicationFactor: 3, minInsyncReplicas: 2 },
      { replicationFactor: 3, minInsyncReplicas: 2 },
    ]);
  });
});

describe('the secured listener', () => {
  const ports = { kafka: 29092, kafkaController: 29093 };
  const security = { keystoreFile: '/s/keystore.pem', truststoreFile: '/s/ca.pem', username: 'sagaline', password: 'p"w' };

  it('given security, then clients and brokers speak SASL_SSL with SCRAM-SHA-512 or PLAIN, from PEM stores, and the controller stays on its own listener', () => {
    const p = nodeProperties(0, 1, ports, '/data', 512, security);
    expect(p.listeners).toBe('SASL_SSL://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093');
    expect(p['advertised.listeners']).toBe('SASL_SSL://127.0.0.1:29092');
    expect(p['inter.broker.listener.name']).toBe('SASL_SSL');
    expect(p['listener.security.protocol.map']).toBe('SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT');
    expect(p['sasl.enabled.mechanisms']).toBe('SCRAM-SHA-512,PLAIN');
    expect(p['listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config']).toBe('org.apache.kafka.common.security.scram.ScramLoginModule required username="sagaline" password="p\\"w";');
    expect(p['listener.name.sasl_ssl.plain.sasl.jaas.config']).toContain('user_sagaline="p\\"w"');
    expect([p['ssl.keystore.type'], p['ssl.keystore.location'], p['ssl.truststore.location']]).toEqual(['PEM', '/s/keystore.pem', '/s/ca.pem']);
  });

  it('given a Java client, then it gets the same protocol, mechanism, credentials and trust, under each prefix; PLAINTEXT gets nothing', () => {
    const client = javaClientSecurity({ protocol: 'SASL_SSL', sasl: { mechanism: 'PLAIN', username: 'u', password: 'pw' }, caFile: '/s/ca.pem' }, ['', 'producer.']);
    expect(client['security.protocol']).toBe('SASL_SSL');
    expect(client['producer.sasl.mechanism']).toBe('PLAIN');
    expect(client['producer.sasl.jaas.config']).toBe('org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="pw";');
    expect(client['ssl.truststore.location']).toBe('/s/ca.pem');
    expect(javaClientSecurity({ protocol: 'PLAINTEXT' })).toEqual({});
  });
});
