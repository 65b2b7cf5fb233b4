#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx's loader: no build step, so `npx wardgate` is always
// the code in src/.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
