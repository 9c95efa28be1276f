/** audit-service's shell: the append-only audit log (the database refuses updates and deletes). */
import type { ParticipantDefinition } from '../runtime/participant.ts';
import { decide, type AuditCommand } from './decide.ts';

export const DATABASE = 'audit_service';

export const DDL = [
  `create table if not exists audit_log (
     audit_id  uuid primary key,
     saga_id   text not null unique,
     tenant_id text not null,
     model_id  text not null,
     version   text not null,
     logged_at timestamptz not null default now())`,
  `create or replace function audit_log_is_append_only() returns trigger language plpgsql as $$
   begin raise exception 'audit_log is append-only: % refused', tg_op; end $$`,
  `do $$ begin
     if not exists (select 1 from pg_trigger where tgname = 'audit_log_append_only') then
       create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_is_append_only();
     end if;
   end $$`,
];

export const auditService: ParticipantDefinition<Record<string, never>, AuditCommand> = {
  name: 'audit-service',
  database: DATABASE,
  ddl: DDL,
  async loadFacts() {
    return {};
  },
  decide: (state, incoming, _facts, ctx) => decide(state, incoming, ctx),
  async apply(client, c) {
    await client.query('insert into audit_log (audit_id, saga_id, tenant_id, model_id, version) values ($1, $2, $3, $4, $5)', [c.auditId, c.sagaId, c.tenantId, c.modelId, c.version]);
  },
};
