//! Entry point of the Chromium baseline: `node bench/chromium/run.mjs
//! <setup|pair|to-native|cost|nat-phone> '<json>'`. Dispatches to setup.mjs, pair.mjs,
//! tonative.mjs, cost.mjs or natphone.mjs, prints exactly one JSON object as the LAST
//! line of stdout (all logging is on stderr), and on failure prints `{"error": "..."}` and
//! exits 1. Usage errors exit 2.

import { emit, log } from './common.mjs';

const modes = {
  setup: () => import('./setup.mjs'),
  pair: () => import('./pair.mjs'),
  'to-native': () => import('./tonative.mjs'),
  cost: () => import('./cost.mjs'),
  'nat-phone': () => import('./natphone.mjs'),
};

const [mode, json] = process.argv.slice(2);
if (!modes[mode] || json === undefined) {
  emit({ error: `usage: run.mjs <${Object.keys(modes).join('|')}> '<json>'` });
  process.exit(2);
}

let input;
try {
  input = JSON.parse(json);
} catch (e) {
  emit({ error: `bad JSON argument: ${e.message}` });
  process.exit(2);
}

const started = Date.now();
try {
  const { run } = await modes[mode]();
  const result = await run(input);
  log(`${mode} finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  emit(result);
  process.exit(0);
} catch (e) {
  log(`${mode} failed:`, e?.stack ?? e);
  emit({ error: `${mode}: ${e?.message ?? String(e)}` });
  process.exit(1);
}
