/** `sagaline tokens create|list|revoke`: the API tokens of the HTTP API and the UI (api/tokens.ts). */
import { Command } from 'commander';
import { loadConfig } from '../core/config.ts';
import { createToken, listTokens, revokeToken, TokenError, withTokenStore, type TokenGrant } from '../api/tokens.ts';
import { printJson, table } from './output.ts';

function createCommand(): Command {
  return new Command('create')
    .description('create a token for one tenant (--tenant) or the operator (--operator); the token is printed once, only its hash is kept')
    .option('--tenant <id>', 'the tenant whose sagas the token starts and sees')
    .option('--operator', 'every tenant, operator actions, two-phase commit and /metrics')
    .option('--label <text>', 'what the token is for, shown by `tokens list`')
    .option('--json', 'print the token and its record as JSON')
    .action(async (opts: { tenant?: string; operator?: boolean; label?: string; json?: boolean }) => {
      if ((opts.tenant === undefined) === !opts.operator) throw new TokenError('TOKEN_INVALID', 'give exactly one of --tenant <id> or --operator');
      const grant: TokenGrant = opts.operator ? { role: 'operator', ...(opts.label ? { label: opts.label } : {}) } : { role: 'tenant', tenantId: opts.tenant!, ...(opts.label ? { label: opts.label } : {}) };
      const created = await withTokenStore(loadConfig(), (pool) => createToken(pool, grant));
      if (opts.json) return printJson(created);
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(`› token ${created.id} for ${created.role === 'operator' ? 'the operator' : `tenant ${created.tenantId}`}; it is not shown again. Send it as "Authorization: Bearer <token>".\n`);
    });
}

function listCommand(): Command {
  return new Command('list')
    .description('list the tokens (ids, roles, tenants, labels; never the tokens themselves)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const rows = await withTokenStore(loadConfig(), listTokens);
      if (opts.json) return printJson({ tokens: rows });
      process.stdout.write(rows.length === 0 ? 'no tokens; create one with `sagaline tokens create`\n' : `${table(rows.map((r) => ({ id: r.id, role: r.role, tenant: r.tenantId ?? '', label: r.label, created: r.createdAt, revoked: r.revokedAt ?? '' })))}\n`);
    });
}

function revokeCommand(): Command {
  return new Command('revoke')
    .description('revoke a token by its id: the API refuses it from the next request on')
    .argument('<id>', 'the token id (from `tokens list`)')
    .action(async (id: string) => {
      const revoked = await withTokenStore(loadConfig(), (pool) => revokeToken(pool, id));
      process.stdout.write(`token ${revoked.id} revoked at ${revoked.revokedAt}\n`);
    });
}

export function tokensCommand(): Command {
  return new Command('tokens').description('API tokens for the HTTP API and the UI: create, list, revoke').addCommand(createCommand()).addCommand(listCommand()).addCommand(revokeCommand());
}
