/**
 * Fetching fixed offset ranges of partitions, for the log reader. kafkajs keeps the connections
 * (TLS, SASL, metadata, leaders, request framing, compression codecs); the Fetch responses are
 * parsed by record-batch.ts instead of kafkajs's consumer, which costs a replay more than the
 * replay's own work (docs/performance.md). No consumer group is joined: each partition's leader
 * is asked for the range directly, so nothing is committed and nothing is left behind.
 */
import { createRequire } from 'node:module';
import type { Kafka } from 'kafkajs';
import { SagalineError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { AbortedFilter, batchBody, batchRecords, FETCH_VERSIONS, firstRecordKey, parseFetchResponse, recordBatches, type Codec, type LogRecord } from './record-batch.ts';

const require = createRequire(import.meta.url);

// kafkajs's own protocol pieces (its public API has no raw fetch): the Fetch request encoder, the
// API key, the compression codecs (gzip, and any a user registered in CompressionCodecs) and the
// error table. kafkajs 2.2.4 is pinned by the lockfile.
interface ProtocolRequest {
  request: { apiVersion: number };
  requestTimeout: number;
}
interface Broker {
  lookupRequest(apiKey: number, definition: unknown): (params: Record<string, unknown>) => ProtocolRequest;
  connectionPool: { send(request: ProtocolRequest & { response: unknown }): Promise<unknown> };
}
interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(options: { nodeId: string }): Promise<Broker>;
}
const FetchRequest = require('kafkajs/src/protocol/requests/fetch') as unknown;
const { Fetch: FETCH_API_KEY } = require('kafkajs/src/protocol/requests/apiKeys') as { Fetch: number };
const { lookupCodec } = require('kafkajs/src/protocol/message/compression') as { lookupCodec(codec: number): Codec | null };
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode(code: number): Error & { type: string; retriable: boolean } };

const READ_COMMITTED = 1;
/** Partition errors after which the leader is looked up again and the fetch repeated. */
const LEADER_MOVED = new Set([3, 5, 6, 74, 75, 78]); // unknown partition, leader not available, not leader, fenced/unknown leader epoch, offset not available
const OFFSET_OUT_OF_RANGE = 1;

export interface Range {
  /** First offset to read. */
  start: number;
  /** Offset to stop before. */
  end: number;
}

export interface FetchOptions {
  /** Header values as strings (what decoding reads) rather than Buffers. */
  textHeaders: boolean;
  maxWaitMs?: number;
  /** Bytes asked for per partition and fetch (grown for a batch that is larger). */
  partitionMaxBytes?: number;
  /** How long retriable failures (a broker down, a leader moved) are retried, from the last fetch that worked, before the read fails; 30 s unless given. */
  retryForMs?: number;
  /** Checked between fetches: false ends the read (the caller gave up). */
  running?: () => boolean;
}

/** The kafkajs cluster behind a client, created as its consumers and admins create theirs. */
function clusterOf(kafka: Kafka): Cluster {
  const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (!create) throw new SagalineError('LOG_READ_FAILED', 'this kafkajs version does not expose the cluster the log reader fetches through (kafkajs 2.2.x is required)');
  return (kafka as unknown as Record<symbol, (o: object) => Cluster>)[create]!({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
}

/**
 * Reads every range, handing each partition's records on in offset order, each once (records
 * outside the range are not handed on). Resolves when every range is read. A failure of
 * `onRecords` ends the read with that error, never retried; a failure that retries cannot mend
 * rejects, naming the partition.
 */
export async function fetchRanges(kafka: Kafka, ranges: ReadonlyMap<string, Range>, options: FetchOptions, log: Logger, onRecords: (topic: string, partition: number, records: LogRecord[]) => Promise<void> | void): Promise<void> {
  const next = new Map<string, number>();
  const maxBytes = new Map<string, number>();
  const partitionMax = options.partitionMaxBytes ?? 4 * 1024 * 1024;
  for (const [key, range] of ranges) if (range.end > range.start) next.set(key, range.start);
  if (next.size === 0) return;
  const cluster = clusterOf(kafka);
  await cluster.connect();
  try {
    await cluster.addMultipleTargetTopics([...new Set([...next.keys()].map(topicOf))]);
    let failures = 0;
    let failingSince = 0;
    while (next.size > 0 && (options.running?.() ?? true)) {
      try {
        // Every leader's fetch settles before the next round, so no partition is fetched twice at once.
        const settled = await Promise.allSettled([...(await leaders(cluster, next))].map(([nodeId, keys]) => fetchOnce(cluster, nodeId, keys)));
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        failures = 0;
      } catch (err) {
        if (err instanceof HandlerFailed) throw err.cause;
        const retriable = (err as { retriable?: boolean }).retriable === true;
        if (failures++ === 0) failingSince = Date.now();
        if (!retriable || Date.now() - failingSince > (options.retryForMs ?? 30_000)) {
          throw err instanceof SagalineError ? err : new SagalineError('LOG_READ_FAILED', `reading the event log failed${retriable ? ` for ${Date.now() - failingSince} ms` : ''}: ${(err as Error).message}`, { cause: err, retriable });
        }
        log.warn({ err: (err as Error).message, attempt: failures }, 'fetching the event log failed; looking up the leaders again');
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** failures)));
        await cluster.refreshMetadata().catch(() => undefined);
      }
    }
  } finally {
    await cluster.disconnect();
  }

  async function fetchOnce(c: Cluster, nodeId: string, keys: string[]): Promise<void> {
    const broker = await c.findBroker({ nodeId });
    const byTopic = new Map<string, { partition: number; fetchOffset: string; maxBytes: number }[]>();
    for (const key of keys) {
      const list = byTopic.get(topicOf(key)) ?? [];
      list.push({ partition: partitionOf(key), fetchOffset: String(next.get(key)), maxBytes: maxBytes.get(key) ?? partitionMax });
      byTopic.set(topicOf(key), list);
    }
    const asked = [...byTopic.values()].flat().reduce((sum, p) => sum + p.maxBytes, 0);
    const request = broker.lookupRequest(FETCH_API_KEY, FetchRequest)({
      isolationLevel: READ_COMMITTED,
      maxWaitTime: options.maxWaitMs ?? 250,
      minBytes: 1,
      maxBytes: asked,
      topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
    });
    const version = request.request.apiVersion;
    if (version < FETCH_VERSIONS.min) throw new SagalineError('LOG_READ_FAILED', `broker ${nodeId} answers Fetch only up to version ${version}; the log reader needs ${FETCH_VERSIONS.min} (Kafka 0.11 or later)`);
    // The response is kept as bytes; record-batch.ts reads it.
    const raw = (await broker.connectionPool.send({
      ...request,
      response: {
        decode: async (payload: Buffer) => ({ payload, clientSideThrottleTime: version >= 8 ? payload.readInt32BE(0) : 0 }),
        parse: async (decoded: { payload: Buffer }) => decoded.payload,
      },
    })) as Buffer;
    const response = parseFetchResponse(raw, version);
    if (response.errorCode !== 0) throw createErrorFromCode(response.errorCode);
    for (const fetched of response.partitions) {
      const key = `${fetched.topic}/${fetched.partition}`;
      const range = ranges.get(key);
      let from = next.get(key);
      if (!range || from === undefined) continue;
      if (fetched.errorCode === OFFSET_OUT_OF_RANGE) {
        throw new SagalineError('LOG_READ_FAILED', `offset ${from} of ${key} is no longer in the log (retention removed it while it was being read); read again`);
      }
      if (fetched.errorCode !== 0) {
        const error = createErrorFromCode(fetched.errorCode);
        if (LEADER_MOVED.has(fetched.errorCode)) throw Object.assign(error, { retriable: true });
        throw new SagalineError('LOG_READ_FAILED', `fetching ${key} at offset ${from} failed: ${error.message}`, { cause: error });
      }
      if (!fetched.records || fetched.records.length === 0) continue;
      const batches = recordBatches(fetched.records);
      if (batches.length === 0) {
        // One batch larger than asked for: ask for all of it next time.
        maxBytes.set(key, Math.max(fetched.records.length >= 12 ? fetched.records.readInt32BE(8) + 12 : 0, (maxBytes.get(key) ?? partitionMax) * 2));
        continue;
      }
      const aborted = new AbortedFilter(fetched.abortedTransactions);
      for (const batch of batches) {
        if (batch.nextOffset <= from) continue;
        const body = await batchBody(batch, lookupCodec, key);
        if (aborted.keeps(batch, () => firstRecordKey(body))) {
          const records = batchRecords(batch, body, from, options.textHeaders);
          let kept = records.length;
          while (kept > 0 && Number((records[kept - 1] as LogRecord).offset) >= range.end) kept--;
          if (kept > 0) {
            try {
              await onRecords(fetched.topic, fetched.partition, kept === records.length ? records : records.slice(0, kept));
            } catch (err) {
              // Never retried: fetching again would hand on records the caller has had.
              throw new HandlerFailed(err);
            }
          }
        }
        from = batch.nextOffset;
        next.set(key, from);
        if (from >= range.end) break;
      }
      if (from >= range.end) {
        next.delete(key);
        log.debug({ partition: key, left: next.size }, 'partition read to its end offset');
      }
    }
  }
}

/** The caller's own failure while handling records: it ends the read as it is. */
class HandlerFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('handling fetched records failed');
  }
}

/** The partitions left, by the broker that leads them. */
async function leaders(cluster: Cluster, next: ReadonlyMap<string, number>): Promise<Map<string, string[]>> {
  const byTopic = new Map<string, number[]>();
  for (const key of next.keys()) byTopic.set(topicOf(key), [...(byTopic.get(topicOf(key)) ?? []), partitionOf(key)]);
  const out = new Map<string, string[]>();
  for (const [topic, partitions] of byTopic) {
    const led = cluster.findLeaderForPartitions(topic, partitions);
    const placed = Object.values(led).flat().length;
    if (placed < partitions.length) throw new SagalineError('LOG_READ_FAILED', `${topic}: ${partitions.length - placed} partition(s) have no leader in the metadata`, { retriable: true });
    for (const [nodeId, ids] of Object.entries(led)) out.set(nodeId, [...(out.get(nodeId) ?? []), ...ids.map((p) => `${topic}/${p}`)]);
  }
  return out;
}

const topicOf = (key: string) => key.slice(0, key.lastIndexOf('/'));
const partitionOf = (key: string) => Number(key.slice(key.lastIndexOf('/') + 1));
