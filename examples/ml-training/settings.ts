/**
 * The example's own settings, from the environment (the engine's settings stay in the engine):
 * each step's deadline and the compute pool the resource service hands out.
 */
import { ConfigError } from '../../index.ts';

export const STEPS = ['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'] as const;
export type TrainingStep = (typeof STEPS)[number];

export interface Capacity {
  cpuCores: number;
  memoryGb: number;
  gpuCount: number;
  storageGb: number;
}

export interface TrainingSettings {
  /** TRAINING_DEADLINE_<STEP>_MS */
  deadlinesMs: Record<TrainingStep, number>;
  /** TRAINING_POOL_CPU_CORES, _MEMORY_GB, _GPU_COUNT, _STORAGE_GB */
  pool: Capacity;
  /** TRAINING_JOB_POLL_MS: how often the training service looks for jobs whose time is up. */
  jobPollMs: number;
}

export const DEFAULT_SETTINGS: TrainingSettings = {
  deadlinesMs: { RESERVE: 5_000, ALLOCATE: 30_000, TRAIN: 3_600_000, UPDATE: 10_000, AUDIT: 5_000 },
  pool: { cpuCores: 64, memoryGb: 256, gpuCount: 8, storageGb: 2_000 },
  jobPollMs: 250,
};

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

export function trainingSettings(env: NodeJS.ProcessEnv = process.env): TrainingSettings {
  const d = DEFAULT_SETTINGS;
  return {
    deadlinesMs: Object.fromEntries(STEPS.map((s) => [s, positiveInt(env, `TRAINING_DEADLINE_${s}_MS`, d.deadlinesMs[s])])) as Record<TrainingStep, number>,
    pool: {
      cpuCores: positiveInt(env, 'TRAINING_POOL_CPU_CORES', d.pool.cpuCores),
      memoryGb: positiveInt(env, 'TRAINING_POOL_MEMORY_GB', d.pool.memoryGb),
      gpuCount: positiveInt(env, 'TRAINING_POOL_GPU_COUNT', d.pool.gpuCount),
      storageGb: positiveInt(env, 'TRAINING_POOL_STORAGE_GB', d.pool.storageGb),
    },
    jobPollMs: positiveInt(env, 'TRAINING_JOB_POLL_MS', d.jobPollMs),
  };
}
