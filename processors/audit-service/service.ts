/** audit-service's shell: the append-only audit log (the database refuses updates and deletes). */
import type { ParticipantDefinition } from '../runtime/participant.ts';
import { decide, type AuditCommand, type AuditEntryKind, type AuditFacts } from './decide.ts';

export const DATABASE = 'audit_service';

export const DDL = [
  `create table if not exists audit_log (
     audit_id  uuid primary key,
     saga_id   text not null,
     entry     text not null check (entry in ('completed', 'reverted')),
     tenant_id text not null,
     model_id  text not null,
     version   text not null,
     logged_at timestamptz not null default now(),
     unique (saga_id, entry))`,
  `create or replace function audit_log_is_append_only() returns trigger language plpgsql as $$
   begin raise exception 'audit_log is append-only: % refused', tg_op; end $$`,
  `do $$ begin
     if not exists (select 1 from pg_trigger where tgname = 'audit_log_append_only') then
       create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_is_append_only();
     end if;
   end $$`,
];

export const auditService: ParticipantDefinition<AuditFacts, AuditCommand> = {
  name: 'audit-service',
  database: DATABASE,
  ddl: DDL,
  async loadFacts(client, state) {
    const { rows } = await client.query('select entry from audit_log where saga_id = $1', [state.sagaId]);
    return { entries: rows.map((r) => r.entry as AuditEntryKind) };
  },
  decide,
  async apply(client, c) {
    await client.query('insert into audit_log (audit_id, saga_id, entry, tenant_id, model_id, version) values ($1, $2, $3, $4, $5, $6)', [c.auditId, c.sagaId, c.entry, c.tenantId, c.modelId, c.version]);
  },
};
