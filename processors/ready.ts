/** Waiting until the processors consume: each one's consumer group is Stable with a member. */
import { kafkaClient } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { PROCESSOR_NAMES, type ProcessorName } from './index.ts';

export const groupOf = (name: ProcessorName): string => `sagaline-${name}`;

export async function waitForProcessorGroups(
  config: Config,
  timeoutMs = 90_000,
  names: readonly ProcessorName[] = PROCESSOR_NAMES,
  /** Throws to stop waiting at once (e.g. a processor process exited). */
  abortIf?: () => void,
): Promise<void> {
  const admin = kafkaClient(config, 'sagaline-readiness').admin();
  await admin.connect();
  try {
    const groups = names.map(groupOf);
    await waitFor(
      `consumer groups ${groups.join(', ')} to be Stable with members`,
      async () => (await admin.describeGroups(groups)).groups.every((g) => g.state === 'Stable' && g.members.length > 0),
      { timeoutMs, intervalMs: 500, ...(abortIf ? { abortIf } : {}) },
    );
  } finally {
    await admin.disconnect();
  }
}
