/**
 * `definitions check`: what a newer definition version would do to instances still in flight under
 * an older one. Each in-flight instance's messages are folded again under the newest version and
 * the result compared with the instance's own fold. Pure, given the messages.
 */
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { instanceMessage } from '../processors/engine/tables.ts';
import { SAGA_STARTED, type Versions } from '../processors/engine/versions.ts';
import type { SagaDefinition } from '../processors/saga/define-saga.ts';
import { foldInstance, isTerminal } from '../processors/saga/instance.ts';
import { compareStates, foldLog, type StateDifference } from './fold.ts';

export interface VersionCheck {
  saga: string;
  newest: number;
  /** In-flight instances under an older version. */
  checked: number;
  differing: (StateDifference & { version: number })[];
}

export function checkVersions(versions: Versions<SagaDefinition>, messages: readonly DecodedMessage[]): VersionCheck {
  const newest = versions.latest;
  const own = foldLog(versions, messages);
  const inFlight = [...own].filter(([, f]) => f.state && !isTerminal(f.state.status) && f.state.status !== 'Parked' && f.state.version !== newest.version);
  const differing: VersionCheck['differing'] = [];
  for (const [sagaId, folded] of inFlight) {
    const history = messages.filter((m) => m.metadata.sagaId === sagaId && (m.type as string) !== SAGA_STARTED).map(instanceMessage);
    const under = foldInstance(newest, history).state;
    // The version itself differs by construction; what matters is what the saga would do.
    const strip = (s: unknown) => ({ ...(s as Record<string, unknown>), version: undefined });
    const [difference] = compareStates(new Map([[sagaId, strip(folded.state)]]), new Map([[sagaId, strip(under)]]), `v${folded.state!.version}`, `v${newest.version}`);
    if (difference) differing.push({ ...difference, version: folded.state!.version });
  }
  return { saga: versions.name, newest: newest.version, checked: inFlight.length, differing };
}
