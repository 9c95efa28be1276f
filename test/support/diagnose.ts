/**
 * What a fault test says when something is stuck: per saga, the steps it waits on and the messages
 * it waits for (from the saga monitor's projection and the definition); per outbox connector, its
 * task state and where its replication slot stands (the same verdict as `stack status` and /health).
 */
import type { Project } from '../../processors/engine/project.ts';
import { formatBytes } from '../../outbox-connector/replication-slots.ts';
import { inspectDelivery } from '../../outbox-connector/delivery-health.ts';
import { config } from './fixtures.ts';
import { sagaRecords, testProject } from './saga.ts';

/** One line per saga: `<id> (<status>): <what it waits for>`; the definitions are the project's (default: the training example). */
export async function whereStuck(sagaIds: readonly string[], project?: Project): Promise<string[]> {
  if (sagaIds.length === 0) return [];
  const sagas = (project ?? (await testProject())).sagas;
  const records = await sagaRecords([...sagaIds]).catch(() => new Map<string, never>());
  return sagaIds.map((id) => {
    const record = records.get(id);
    if (!record) return `${id} (not projected): its start was never projected — is the saga monitor running, is the engine's outbox delivered?`;
    const { state } = record;
    if (['Completed', 'Compensated', 'Failed'].includes(record.status)) return `${id} (${record.status}): ended${state.reason ? ` (${state.reason})` : ''}`;
    const definition = sagas.find((s) => s.name === state.saga && s.version === state.version);
    const waits = Object.entries(state.steps)
      .filter(([, s]) => s.status === 'running' || s.status === 'compensating')
      .map(([name, s]) => {
        const step = definition?.steps.find((d) => d.name === name);
        const expects = s.status === 'running' ? [step?.succeeded, step?.failed] : [step?.compensatedBy];
        return `${name} ${s.status} since ${s.startedAt ?? '?'} (attempt ${s.attempts + 1}${s.timedOut ? ', timed out' : ''}) — expects ${expects.filter(Boolean).join(' | ') || 'nothing'} from ${step?.owner ?? '?'}`;
      });
    return `${id} (${record.status}): ${waits.join('; ') || 'no step running (waiting for the engine to move on)'}`;
  });
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
