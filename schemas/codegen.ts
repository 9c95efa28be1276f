/**
 * Writes schemas/generated.ts: the TypeScript types of every message, derived from the .avsc
 * files so they are never written a second time by hand. `npm run schemas:generate` runs it; a
 * unit spec fails when the checked-in file differs from what the schemas produce.
 */
import { shortName, type Contracts } from './contracts.ts';

type Json = string | Json[] | { [k: string]: Json };

const short = shortName;

function tsType(schema: Json): string {
  if (typeof schema === 'string') {
    switch (schema) {
      case 'null': return 'null';
      case 'boolean': return 'boolean';
      case 'int': case 'long': case 'float': case 'double': return 'number';
      case 'bytes': return 'Buffer';
      case 'string': return 'string';
      default: return short(schema);
    }
  }
  if (Array.isArray(schema)) return schema.map(tsType).join(' | ');
  switch (schema.type) {
    case 'map': return `Record<string, ${tsType(schema.values as Json)}>`;
    case 'array': return `${wrap(tsType(schema.items as Json))}[]`;
    case 'record': case 'enum': return short(String(schema.name));
    default: return tsType(schema.type as Json);
  }
}

const wrap = (t: string) => (t.includes('|') ? `(${t})` : t);

function doc(text: unknown, indent = ''): string {
  return typeof text === 'string' ? `${indent}/** ${text} */\n` : '';
}

function declaration(schema: { [k: string]: Json }): string {
  if (schema.type === 'enum') {
    const symbols = schema.symbols as string[];
    return `${doc(schema.doc)}export type ${schema.name} = ${symbols.map((s) => `'${s}'`).join(' | ')};\nexport const ${schema.name}_VALUES = [${symbols.map((s) => `'${s}'`).join(', ')}] as const;\n`;
  }
  const fields = (schema.fields as { [k: string]: Json }[])
    .map((f) => `${doc(f.doc, '  ')}  ${f.name}: ${tsType(f.type as Json)};`)
    .join('\n');
  return `${doc(schema.doc)}export interface ${schema.name} {\n${fields}\n}\n`;
}

export function generate(contracts: Contracts, header: string): string {
  const parts = [`${header}\n`];
  const messageNames = [...contracts.messages.keys()];
  for (const [name, source] of contracts.sources) {
    if (!contracts.messages.has(name)) parts.push(declaration(source as { [k: string]: Json }));
  }
  for (const name of messageNames) parts.push(declaration(contracts.sources.get(name) as { [k: string]: Json }));
  parts.push(`/** Every message type, by its name (the \`eventType\` header). */\nexport interface MessagePayloads {\n${messageNames.map((n) => `  ${n}: ${n};`).join('\n')}\n}\n`);
  parts.push('export type MessageType = keyof MessagePayloads;\n');
  parts.push(`export const MESSAGE_TYPES = [\n${messageNames.map((n) => `  '${n}',`).join('\n')}\n] as const satisfies readonly MessageType[];\n`);
  return parts.join('\n');
}

