// Builds the browser client into dist/ (index.html, app.js, app.css), the files
// `ringwire serve` embeds (crates/server/src/web.rs), the operator's dashboard (web/admin) into
// dist/admin/, which it embeds too (crates/server/src/dashboard.rs), and the hybrid demo page
// (web/hybrid, on the bridge package web/bridge) into dist/hybrid/, which `ringwire
// bridge-host` embeds. Output is deterministic, so the committed dist/ can be checked against a
// fresh build (scripts/test does). `node build.mjs admin` builds only the dashboard.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
mkdirSync(`${here}dist`, { recursive: true });
const bundle = (entry, outfile) =>
  build({
    entryPoints: [`${here}${entry}`],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    outfile: `${here}dist/${outfile}`,
    logLevel: 'warning',
  });
const only = process.argv[2];
if (only !== 'admin') {
  mkdirSync(`${here}dist/hybrid`, { recursive: true });
  await bundle('src/main.ts', 'app.js');
  await bundle('hybrid/main.ts', 'hybrid/hybrid.js');
  copyFileSync(`${here}hybrid/index.html`, `${here}dist/hybrid/index.html`);
  copyFileSync(`${here}src/index.html`, `${here}dist/index.html`);
  copyFileSync(`${here}src/app.css`, `${here}dist/app.css`);
}
mkdirSync(`${here}dist/admin`, { recursive: true });
await bundle('admin/main.ts', 'admin/admin.js');
copyFileSync(`${here}admin/index.html`, `${here}dist/admin/index.html`);
copyFileSync(`${here}admin/admin.css`, `${here}dist/admin/admin.css`);
