/**
 * The delivery guard: a background round (run by the saga monitor) that watches every
 * outbox connector and mends the one stall Kafka Connect cannot mend itself.
 *
 * When the broker is away, Connect revokes its tasks within seconds (its group coordinator is
 * gone); a Debezium task that cannot finish stopping before `task.shutdown.graceful.timeout.ms` is
 * abandoned, but its replication connection lives on inside the worker and keeps the slot. Once
 * the broker is back, the task Connect starts anew can never take the slot ("replication slot … is
 * active for PID …"), retries forever, and Connect reports it RUNNING. The guard sees that (the
 * slot held by a connection older than the one waiting for it, and no heartbeat) and terminates
 * the abandoned connection; the waiting task takes the slot at its next retry and streams from the
 * position last confirmed, which the abandoned task never moved past what Kafka acknowledged.
 * Likewise a task Connect marked FAILED is restarted: Connect never restarts one by itself. Each
 * action is taken on a connector at most once per two stall periods, so a fix gets time to show.
 *
 * Every change of a connector's verdict is logged (an error while it does not deliver). A lost
 * slot is not mended here: its recovery re-sends rows and resets the connector's offsets, which is
 * an operator's call (`npx sagaline outbox recover`).
 *
 * Several processes may run the guard; a session advisory lock lets one act at a time.
 */
import pg from 'pg';
import { databaseUrlFor, ENGINE_DATABASE, type Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { startPoller, type Poller } from '../core/poller.ts';
import { ConnectClient } from './connect-client.ts';
import { gatherDeliveryFacts, judgeDelivery, type DeliveryState, type DeliveryStatus } from './delivery-health.ts';

const LOCK = 'sagaline-delivery-guard';

export interface DeliveryGuard {
  /** The verdicts of the latest round (empty before the first, or while another process guards). */
  latest(): readonly DeliveryStatus[];
  stop(): Promise<void>;
}

/** Terminates the connection holding `slot` if it is still `pid`; true if it did. */
async function terminateHolder(client: pg.ClientBase, slot: string, pid: number): Promise<boolean> {
  const { rows } = await client.query<{ done: boolean }>('select pg_terminate_backend(active_pid) as done from pg_replication_slots where slot_name = $1 and active_pid = $2', [slot, pid]);
  return rows[0]?.done === true;
}

export function startDeliveryGuard(config: Config, log: Logger): DeliveryGuard | undefined {
  if (config.delivery.guardIntervalMs === 0 || config.relay !== 'debezium') return undefined;
  let lease: pg.Client | undefined;
  let latest: DeliveryStatus[] = [];
  const previous = new Map<string, DeliveryState>();
  const lastAction = new Map<string, number>();
  const cooldownMs = 2 * config.delivery.stallAfterMs;
  const connect = new ConnectClient(config.connectUrls);
  /** True (and noted) when `action` may be taken on the connector now. */
  const mayAct = (connector: string, action: 'end-holder' | 'restart'): boolean => {
    const key = `${connector}:${action}`;
    const last = lastAction.get(key);
    if (last !== undefined && Date.now() - last < cooldownMs) return false;
    lastAction.set(key, Date.now());
    return true;
  };

  /** Holds the guard's lock on a session of its own; a lost connection loses it, and the next round tries again. */
  async function holdsLease(): Promise<boolean> {
    if (!lease) {
      const client = new pg.Client({ connectionString: databaseUrlFor(config, ENGINE_DATABASE), connectionTimeoutMillis: 5_000 });
      client.on('error', () => {
        if (lease === client) lease = undefined;
      });
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      lease = client;
    }
    const { rows } = await lease.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [LOCK]);
    return rows[0]?.ok === true;
  }

  async function round(): Promise<void> {
    if (!(await holdsLease())) {
      latest = [];
      return;
    }
    const verdicts = (await gatherDeliveryFacts(config)).map((f) => judgeDelivery(f, { stallAfterMs: config.delivery.stallAfterMs }));
    latest = verdicts;
    for (const v of verdicts) {
      if (previous.get(v.connector) !== v.state) {
        const fields = { connector: v.connector, slot: v.slot, state: v.state, task: v.task, detail: v.detail };
        if (v.healthy) log.info(fields, previous.has(v.connector) ? 'outbox connector delivers again' : 'outbox connector delivers');
        else log.error(fields, `outbox connector does not deliver: ${v.detail}`);
        previous.set(v.connector, v.state);
      }
      if (v.staleHolderPid !== undefined && lease && mayAct(v.connector, 'end-holder')) {
        const done = await terminateHolder(lease, v.slot, v.staleHolderPid);
        const holder = { connector: v.connector, slot: v.slot, pid: v.staleHolderPid, terminated: done };
        if (done) log.warn(holder, 'ended the connection that held the slot without delivering, so the connector task Connect runs can take it');
        else log.warn(holder, 'the connection that held the slot was gone or changed before it could be ended; the next round judges again');
      }
      if (v.state === 'down' && /FAILED/.test(v.task) && mayAct(v.connector, 'restart')) {
        await connect.restart(v.connector);
        log.warn({ connector: v.connector, task: v.task, detail: v.detail }, 'restarted the failed connector task');
      }
    }
  }

  const poller: Poller = startPoller('delivery guard', config.delivery.guardIntervalMs, log, round);
  return {
    latest: () => latest,
    async stop() {
      await poller.stop();
      await lease?.end().catch(() => undefined);
    },
  };
}
