//! `cost` mode: CPU and memory of Chromium holding N audio calls. Two separate Chromium
//! instances ("callers", "callees"), each launched with its own --user-data-dir so its browser
//! process is found in /proc (proc.mjs). First the callees browser is measured idle (one
//! about:blank page, after warmup_s to let startup settle); then N call pages open in each
//! browser (cost-page.html/js, served from 127.0.0.1), pairs are connected directly over
//! loopback with node brokering offer/answer/candidates, and after warmup_s the callees
//! browser's whole process tree is measured for `seconds`. Only the callees tree is counted.
//!
//! Quirks: headless Chromium still runs a GPU process (--disable-gpu) and a network, storage and
//! audio service; all are descendants of the browser process (renderers via the zygote) and are
//! counted. Both browsers share the machine's cores during the window.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserArgs, chromium, chromiumPath, log, pipeConsole, sleep, staticServer } from './common.mjs';
import { browserPid, startWindow } from './proc.mjs';

async function launchNamed(name) {
  const dir = mkdtempSync(join(tmpdir(), `ringwire-bench-${name}-`));
  const context = await chromium.launchPersistentContext(dir, { executablePath: chromiumPath, headless: true, args: browserArgs() });
  const pid = browserPid(dir);
  log(`cost: ${name} browser pid ${pid}`);
  return { context, pid, dir };
}

/**
 * Loads `url` in `page`, once more if the load fails: with live calls on a small machine a
 * navigation can fail outright, which says nothing about the call cost measured later. Rounds
 * the machine cannot carry are not started at all (cost.rs decides), so two tries are enough.
 */
async function open(page, url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await page.goto(url);
    } catch (e) {
      if (attempt === 2) throw e;
      log(`cost: loading ${url} failed (${e.message.split('\n')[0]}); trying again`);
      await sleep(1000);
    }
  }
}

async function measure(pid, seconds) {
  const w = startWindow(pid);
  await sleep(seconds * 1000);
  return w.end();
}

export async function run(input) {
  const calls = Number(input.calls);
  const seconds = Number(input.seconds);
  const warmup = Number(input.warmup_s ?? 3);
  if (!(calls >= 1) || !(seconds > 0) || !(warmup >= 0)) throw new Error('cost needs calls >= 1, seconds > 0, warmup_s >= 0');
  const server = await staticServer();
  const launched = [];
  try {
    const callers = await launchNamed('callers');
    launched.push(callers);
    const callees = await launchNamed('callees');
    launched.push(callees);
    await callees.context.pages()[0]?.goto('about:blank');

    await sleep(warmup * 1000);
    const idle = await measure(callees.pid, seconds);
    log(`cost: idle ${JSON.stringify(idle)}`);

    // Pages, and node brokering the signaling between the two browsers.
    const peerOf = new Map();
    for (const side of [callers, callees]) {
      await side.context.exposeBinding('benchSignal', async ({ page }, candidate) => {
        const peer = peerOf.get(page);
        if (peer) await peer.evaluate((c) => window.bench.candidate(c), candidate).catch(() => undefined);
      });
    }
    // With live calls on a small machine a new page can take longer than playwright's 30 s
    // default to load; the figures are taken after all are up.
    callers.context.setDefaultTimeout(120_000);
    callees.context.setDefaultTimeout(120_000);
    const pairs = [];
    const opened = Date.now();
    for (let i = 0; i < calls; i++) {
      const [a, b] = await Promise.all([callers.context.newPage(), callees.context.newPage()]);
      pipeConsole(a, `caller ${i}`);
      pipeConsole(b, `callee ${i}`);
      peerOf.set(a, b);
      peerOf.set(b, a);
      await Promise.all([open(a, `${server.url}/cost-page.html`), open(b, `${server.url}/cost-page.html`)]);
      await Promise.all([a.waitForFunction(() => window.bench?.ready), b.waitForFunction(() => window.bench?.ready)]);
      const offer = await a.evaluate(() => window.bench.offer());
      const answer = await b.evaluate((sdp) => window.bench.answer(sdp), offer);
      await a.evaluate((sdp) => window.bench.accept(sdp), answer);
      pairs.push({ a, b });
    }
    const states = () => Promise.all(pairs.map(({ b }) => b.evaluate(() => window.bench.state()).catch(() => 'gone')));
    const deadline = Date.now() + 30_000 + calls * 1000;
    let connected = 0;
    while (Date.now() < deadline) {
      connected = (await states()).filter((s) => s === 'connected').length;
      if (connected === calls) break;
      await sleep(250);
    }
    log(`cost: ${connected}/${calls} connected ${((Date.now() - opened) / 1000).toFixed(1)} s after the first page opened`);
    if (connected === 0) throw new Error('no call connected');

    await sleep(warmup * 1000);
    const active = await measure(callees.pid, seconds);
    const finalStates = await states();
    const stillConnected = finalStates.filter((s) => s === 'connected').length;
    const playing = (await Promise.all(pairs.map(({ b }) => b.evaluate(() => window.bench.playing()).catch(() => false)))).filter(Boolean).length;
    log(`cost: active ${JSON.stringify(active)}; ${stillConnected} connected, ${playing} playing at the end`);
    return { calls, idle, active, connected: stillConnected, playing };
  } finally {
    for (const { context, dir } of launched.reverse()) {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
    await server.close();
  }
}
