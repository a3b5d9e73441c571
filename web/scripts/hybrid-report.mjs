// Writes the hybrid comparison table (web/test-results/hybrid.json, produced by
// tests/hybrid.test.mjs) into docs/hybrid.md between its table markers.
// Run: cd web && npm run hybrid-report
import { readFileSync, writeFileSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const results = JSON.parse(readFileSync(`${here}../test-results/hybrid.json`, 'utf8'));
const doc = `${here}../../docs/hybrid.md`;
const get = (stack, scenario) => results.find((r) => r.stack === stack && r.scenario === scenario) ?? {};
const ms = (v) => (typeof v !== 'number' ? 'n/a' : v < 5 ? '< 5 ms' : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);
const pct = (v) => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : 'n/a');
const yes = (v) => (v === true ? 'yes' : v === false ? 'no' : 'n/a');
const shows = (v) => (v ? `${v.screen} screen${v.lastCall ? `, “${v.lastCall}”` : ''}` : 'n/a');

const rows = [
  ['Audio the far end received during the 10 s suspension', (s) => pct(get(s, 'audio_during_suspension').fraction_received)],
  ['Far end hangs up during the suspension: call ended on this side while suspended', (s) => yes(get(s, 'far_hangup_during_suspension').ended_during_suspension)],
  ['… this side ended after the far end’s hangup by', (s) => ms(get(s, 'far_hangup_during_suspension').ui_side_end_delay_ms)],
  ['… UI after resume', (s) => shows(get(s, 'far_hangup_during_suspension').ui_after_resume)],
  ['Call arriving during the suspension answered while suspended (platform answer)', (s) => yes(get(s, 'incoming_during_suspension').answered_during_suspension)],
  ['… caller stopped ringing after the user answered, by', (s) => ms(get(s, 'incoming_during_suspension').caller_stopped_ringing_after_ms)],
  ['… UI after resume', (s) => shows(get(s, 'incoming_during_suspension').ui_after_resume)],
];
const table = [
  '| | baseline: call in the page’s JavaScript | ringwire: call in the native engine |',
  '|---|---|---|',
  ...rows.map(([label, f]) => `| ${label} | ${f('baseline')} | ${f('ringwire')} |`),
].join('\n');

const start = '<!-- hybrid-table:start -->';
const end = '<!-- hybrid-table:end -->';
const text = readFileSync(doc, 'utf8');
const a = text.indexOf(start);
const b = text.indexOf(end);
if (a < 0 || b < a) throw new Error(`${doc} lacks the table markers`);
writeFileSync(doc, `${text.slice(0, a + start.length)}\n${table}\n${text.slice(b)}`);
console.log(table);
