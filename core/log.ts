/** Structured JSON logs (pino) to stderr; the level comes from the configuration. */
import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';

export function createLogger(config: Pick<Config, 'logLevel'>, name: string): Logger {
  return pino({ name, level: config.logLevel }, pino.destination(2));
}

export type { Logger };
