/**
 * What a fault test says when something is stuck: per saga, the step it waits on and the message
 * it waits for (from the live projection); per outbox connector, its task state and where its
 * replication slot stands (the same verdict as `stack status` and /health).
 */
import { pgPool } from '../../core/clients.ts';
import { ENGINE_DATABASE } from '../../core/config.ts';
import { formatBytes } from '../../outbox-connector/replication-slots.ts';
import { inspectDelivery } from '../../outbox-connector/delivery-health.ts';
import { loadStates } from '../../processors/saga-state/rebuild.ts';
import { LIVE_TABLE } from '../../processors/saga-state/service.ts';
import { awaiting } from '../../processors/saga/awaiting.ts';
import { config } from './fixtures.ts';

/** One line per saga: `<id> (<state>): <what it waits for>`. */
export async function whereStuck(sagaIds: readonly string[]): Promise<string[]> {
  if (sagaIds.length === 0) return [];
  const pool = pgPool(config, ENGINE_DATABASE, 1);
  try {
    const states = await loadStates(pool, LIVE_TABLE, [...sagaIds]).catch(() => new Map());
    return sagaIds.map((id) => {
      const state = states.get(id);
      const waits = awaiting(state);
      return `${id} (${state?.status ?? 'not projected'}): ${waits ? `${waits.summary} — expects ${waits.messages.join(' | ') || 'nothing'} from ${waits.from}` : 'ended'}`;
    });
  } finally {
    await pool.end();
  }
}

/** One line per outbox connector: its verdict, task state, slot position, lag and last heartbeat. */
export async function deliveryLines(): Promise<string[]> {
  try {
    return (await inspectDelivery(config)).map(
      (d) =>
        `connector ${d.connector}: ${d.state}, connector/task ${d.task}, slot ${d.slot} at ${d.position?.confirmedFlushLsn ?? '-'} ` +
        `(${d.position ? `${d.position.active ? `held by pid ${d.position.activePid}` : 'not active'}, ${d.position.walStatus}, lag ${formatBytes(d.position.lagBytes)}` : 'missing'}), ` +
        `last heartbeat ${d.lastHeartbeatAt ?? 'never'}${d.detail ? `; ${d.detail}` : ''}`,
    );
  } catch (err) {
    return [`delivery could not be inspected: ${(err as Error).message}`];
  }
}
