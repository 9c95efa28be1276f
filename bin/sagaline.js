#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so the CLI never runs stale build output.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
