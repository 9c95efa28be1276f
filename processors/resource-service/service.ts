/** resource-service's shell: the compute pool and its allocations. */
import type { Config } from '../../core/config.ts';
import type { ParticipantDefinition } from '../runtime/participant.ts';
import { decide, type ResourceCommand, type ResourceFacts } from './decide.ts';

export const DATABASE = 'resource_service';

export function ddl(pool: Config['saga']['pool']): string[] {
  return [
    `create table if not exists compute_pool (
       id int primary key check (id = 1),
       cpu_cores int not null, memory_gb int not null, gpu_count int not null, storage_gb int not null)`,
    `insert into compute_pool values (1, ${pool.cpuCores}, ${pool.memoryGb}, ${pool.gpuCount}, ${pool.storageGb}) on conflict (id) do nothing`,
    `create table if not exists allocations (
       allocation_id uuid primary key,
       saga_id       text not null unique,
       cpu_cores int not null, memory_gb int not null, gpu_count int not null, storage_gb int not null,
       compute_nodes text[] not null,
       status        text not null check (status in ('held', 'released')),
       created_at    timestamptz not null default now(),
       released_at   timestamptz)`,
  ];
}

export function resourceService(config: Config): ParticipantDefinition<ResourceFacts, ResourceCommand> {
  return {
    name: 'resource-service',
    database: DATABASE,
    ddl: ddl(config.saga.pool),
    async loadFacts(client) {
      // Locking the pool row serialises allocations: two sagas never both take the last GPU.
      const pool = (await client.query('select * from compute_pool where id = 1 for update')).rows[0];
      const used = (await client.query(`select coalesce(sum(cpu_cores),0)::int c, coalesce(sum(memory_gb),0)::int m, coalesce(sum(gpu_count),0)::int g, coalesce(sum(storage_gb),0)::int s
                                          from allocations where status = 'held'`)).rows[0];
      return { free: { cpuCores: pool.cpu_cores - used.c, memoryGb: pool.memory_gb - used.m, gpuCount: pool.gpu_count - used.g, storageGb: pool.storage_gb - used.s } };
    },
    decide,
    async apply(client, c) {
      if (c.kind === 'allocate') {
        const r = c.resources;
        await client.query(
          "insert into allocations (allocation_id, saga_id, cpu_cores, memory_gb, gpu_count, storage_gb, compute_nodes, status) values ($1, $2, $3, $4, $5, $6, $7, 'held')",
          [c.allocationId, c.sagaId, r.cpuCores, r.memoryGb, r.gpuCount, r.storageGb, c.computeNodes],
        );
      } else {
        await client.query("update allocations set status = 'released', released_at = now() where saga_id = $1 and status = 'held'", [c.sagaId]);
      }
    },
  };
}
