//! Shared plumbing of the Chromium baseline scripts: playwright-core resolved from web/'s
//! node_modules (no browser is ever downloaded; Debian's /usr/bin/chromium is driven), the
//! launch flags every mode uses, a tiny static file server for this directory (AudioWorklet needs
//! a secure context; http://127.0.0.1 is one), logging to stderr, and the one-JSON-line result
//! contract (the LAST stdout line is the result; everything else goes to stderr).
//!
//! Chromium quirks handled here: without microphone permission Chromium hides host candidates
//! behind mDNS `.local` names, so `WebRtcHideLocalIpsWithMdns` is disabled; loopback candidates
//! are only gathered with `--allow-loopback-in-peer-connection`; AudioContexts and <audio>
//! elements only start without a user gesture under `--autoplay-policy=no-user-gesture-required`.

import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(new URL('../../web/package.json', import.meta.url));
export const { chromium } = require('playwright-core');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

export { waitFor, sleep, freePort } from '../../web/tests/harness.mjs';

/** Flags of every benchmark browser (the harness's set plus the WebRTC/autoplay ones). */
export function browserArgs(extra = []) {
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--autoplay-policy=no-user-gesture-required',
    ...extra,
  ];
}

export async function launch(extraArgs = []) {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: browserArgs(extraArgs) });
}

export const log = (...args) => console.error('[chromium-bench]', ...args);

/** Page console errors/warnings and page errors go to stderr, tagged. */
export function pipeConsole(page, name) {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log(`[${name} console] ${m.text()}`);
  });
  page.on('pageerror', (e) => log(`[${name} page error] ${e.message}`));
}

/** Serves this directory's files (and `extra` path → file mappings) on 127.0.0.1:random. */
export async function staticServer(extra = {}) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wav': 'audio/wav' };
  const cache = new Map();
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = extra[path] ?? join(here, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    if (!extra[path] && !file.startsWith(here)) {
      res.writeHead(403).end();
      return;
    }
    try {
      // Read once and kept: with a hundred pages loading on two cores a read can fail for want
      // of a file descriptor, which would look like a missing page.
      let body = cache.get(file);
      if (!body) {
        body = await readFile(file);
        cache.set(file, body);
      }
      const ext = file.slice(file.lastIndexOf('.'));
      res.writeHead(200, { 'Content-Type': types[ext] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch (e) {
      log(`static server: ${path}: ${e.message}`);
      res.writeHead(e.code === 'ENOENT' ? 404 : 500).end(String(e.message));
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Prints the result as the last stdout line. */
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export const now = () => performance.timeOrigin + performance.now();

/**
 * The codec the offerer sends with: the first payload type of the answer's audio m-line
 * (`red/48000/2`, `opus/48000/2`), or null. Chromium's outbound-rtp stats name Opus even while
 * it wraps it in RED, so the answer is what tells.
 */
export function sendCodec(answerSdp) {
  if (typeof answerSdp !== 'string') return null;
  const m = answerSdp.match(/^m=audio \d+ [A-Z/]+ (\d+)/m);
  if (!m) return null;
  const rtpmap = answerSdp.match(new RegExp(`^a=rtpmap:${m[1]} ([^\\r\\n]+)`, 'm'));
  return rtpmap ? rtpmap[1].toLowerCase() : null;
}
