// What the browser tests start for real: a `ringwire serve` on a free loopback port with its own
// data directory, Debian's Chromium through playwright-core (fake microphone playing a WAV tone,
// loopback candidates allowed, mDNS host names left at Chromium's default unless asked), and
// native softphones (`ringwire call` / `ringwire answer`). Nothing here stands in for a
// component; it only starts them, waits for them and reads what they report.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const ringwireBin = process.env.RINGWIRE_BIN ?? join(repoRoot, 'target', 'debug', 'ringwire');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const artifacts = join(repoRoot, 'web', 'test-results');
mkdirSync(artifacts, { recursive: true });

const ADMIN_TOKEN = 'browser-tests-admin-token';

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `ringwire-${prefix}-`));
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function waitFor(what, check, ms = 15_000, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
}

/** A 48 kHz mono 16-bit WAV of a sine at `hz`, `seconds` long (Chromium loops it). */
export function toneWav(hz, seconds = 4) {
  const rate = 48_000;
  const n = rate * seconds;
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    data.writeInt16LE(Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  const path = join(tempDir('wav'), `tone-${hz}.wav`);
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}

/**
 * `ringwire serve` with a fresh store; the admin API creates users and devices. `env` adds
 * environment variables (such as `RINGWIRE_ICE_SERVERS`).
 */
export async function startServer({ env = {} } = {}) {
  const port = await freePort();
  const dataDir = tempDir('server');
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(ringwireBin, ['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir], {
    env: { ...process.env, ...env, RINGWIRE_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  await waitFor('the server to answer /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000);

  const admin = async (method, path, body) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  return {
    url,
    /** The admin token the server runs with (the dashboard's sign-in). */
    adminToken: ADMIN_TOKEN,
    async addUser(name, displayName) {
      await admin('POST', '/v1/admin/users', displayName ? { name, display_name: displayName } : { name });
    },
    /** Adds a device and returns `{token, deviceId}`. */
    async addDevice(user, label) {
      const r = await admin('POST', `/v1/admin/users/${user}/devices`, { label });
      return { token: r.token, deviceId: r.device.device_id };
    },
    /** The user's call history, newest first. */
    async calls(user) {
      return (await admin('GET', `/v1/calls?user=${user}`)).calls;
    },
    /** Devices past `hello`, from the server's own metrics. */
    async connectedDevices() {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('ringwire_connected_devices '));
      return line ? Number(line.split(' ')[1]) : 0;
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A headless Chromium whose microphone plays a tone. Chromium's default of hiding host
 * addresses behind `.local` names until the page has microphone permission stays on (pass
 * `mdns: false` to turn it off). There is no auto-accepting permission prompt: a page gets the
 * microphone when the test grants it, as a user would at the prompt (`openPhone`).
 */
export async function launchBrowser({ toneHz, mdns = true, extraArgs = [] }) {
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${toneWav(toneHz)}`,
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
  ];
  if (!mdns) args.push('--disable-features=WebRtcHideLocalIpsWithMdns');
  args.push(...extraArgs);
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args });
  return browser;
}

/**
 * Opens the server's page in a new tab and signs in with `token` through the form. With
 * `microphone: false` the page starts without microphone permission (grant it later with
 * `grantMicrophone`), so Chromium sends mDNS host names until then. `prepare(context)` runs
 * before the page opens (to put it behind an impairment relay: impair.mjs).
 */
export async function openPhone(browser, server, token, name, { microphone = true, prepare } = {}) {
  const context = await browser.newContext({ viewport: { width: 520, height: 720 } });
  if (microphone) await grantMicrophone(context.pages()[0] ?? context, server);
  if (prepare) await prepare(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.error(`[${name} console] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
  await page.goto(server.url);
  await page.waitForSelector('#app[data-screen="signin"]');
  await page.fill('#token', token);
  await page.click('#signin-button');
  await page.waitForSelector('#app[data-screen="home"]');
  await page.waitForSelector('#status.online');
  return page;
}

/** What a user does at Chromium's permission prompt: allow the microphone for the server. */
export async function grantMicrophone(pageOrContext, server) {
  const context = 'context' in pageOrContext ? pageOrContext.context() : pageOrContext;
  await context.grantPermissions(['microphone'], { origin: server.url });
}

export async function screen(page) {
  return page.getAttribute('#app', 'data-screen');
}

export async function waitScreen(page, name, ms = 15_000) {
  await page.waitForSelector(`#app[data-screen="${name}"]`, { timeout: ms });
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`) });
}

/**
 * The dominant frequency and level of the audio the page receives from the far end, analysed
 * with WebAudio over `ms`: what a listener would hear, not what the page sent.
 */
export async function remoteTone(page, ms = 1500) {
  return page.evaluate(async (ms) => {
    const call = window.ringwire.phone?.current;
    const stream = call?.mediaPeer?.remoteStream;
    if (!stream || stream.getAudioTracks().length === 0) return { hz: null, rms: 0 };
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    source.connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const wave = new Float32Array(analyser.fftSize);
    const sums = new Float32Array(analyser.frequencyBinCount);
    let rms = 0;
    let n = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      analyser.getFloatFrequencyData(bins);
      for (let i = 0; i < bins.length; i++) sums[i] += 10 ** (bins[i] / 20);
      analyser.getFloatTimeDomainData(wave);
      rms += Math.sqrt(wave.reduce((a, v) => a + v * v, 0) / wave.length);
      n += 1;
    }
    let best = 1;
    for (let i = 2; i < sums.length; i++) if (sums[i] > sums[best]) best = i;
    const hz = (best * ctx.sampleRate) / analyser.fftSize;
    await ctx.close();
    return { hz, rms: rms / Math.max(1, n) };
  }, ms);
}

/** Facts about the page's current call, read from the running client. */
export async function callFacts(page) {
  return page.evaluate(() => {
    const call = window.ringwire.phone?.current;
    if (!call) return null;
    const peer = call.mediaPeer;
    return {
      id: call.id,
      phase: call.phase,
      role: call.role,
      endReason: call.endReason,
      answeredDevice: call.answeredDevice,
      sentCandidates: peer ? { ...peer.sentCandidates } : null,
      peers: call.peers.size,
      // RFC 2198 RED for Opus is negotiated when both descriptions list it.
      red: peer
        ? [peer.pc.currentLocalDescription, peer.pc.currentRemoteDescription].every((d) => /a=rtpmap:\d+ red\/48000\/2/.test(d?.sdp ?? ''))
        : null,
      // The quality verdict the page computes (web/src/quality.ts): the one announced last
      // (`good` until a change), every change, and the latest window whether announced or not.
      verdict: call.verdict?.verdict ?? 'good',
      verdictCause: call.verdict?.cause ?? null,
      verdictChanges: call.verdictChanges.map((c) => ({ verdict: c.verdict, cause: c.cause, atMs: c.atMs, figures: c.figures })),
      lastWindow: call.qualityMonitor.lastWindow,
    };
  });
}

/**
 * A native softphone: `ringwire answer` or `ringwire call USER`, with a tone as its microphone
 * and a recording of what it hears. Resolves `report` with its JSON call report.
 */
export function nativePhone(kind, { server, token, toneHz, to, acceptAfterMs, durationS }) {
  const record = join(tempDir('native'), 'heard.wav');
  const args = [kind];
  if (kind === 'call') args.push(to);
  args.push('--server', server.url, '--token', token, '--tone', String(toneHz), '--record', record, '--json');
  if (acceptAfterMs !== undefined) args.push('--accept-after', String(acceptAfterMs));
  if (durationS !== undefined) args.push('--duration', String(durationS));
  const child = spawn(ringwireBin, args, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const report = new Promise((ok, fail) => {
    child.on('exit', (code) => {
      try {
        const json = JSON.parse(out.trim().split('\n').pop() ?? '');
        ok({ code, ...json });
      } catch {
        fail(new Error(`ringwire ${kind} exited ${code} without a JSON report: ${out}`));
      }
    });
  });
  // A test that fails early kills the phone; that rejection is not the test's error.
  report.catch(() => undefined);
  return { child, report, record, kill: () => child.kill('SIGKILL') };
}

/** Everything a test started, stopped in reverse order even when the test fails. */
export class Cleanup {
  #steps = [];
  add(step) {
    this.#steps.push(step);
  }
  async run() {
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (e) {
        console.log('cleanup:', e.message);
      }
    }
  }
}

/**
 * `ringwire bridge-host`: a native engine for `token` (tone as microphone), a simulated CallKit,
 * and the UI-only hybrid page with the JSON bridge on a free local port.
 */
export async function startBridgeHost({ server, token, toneHz }) {
  const child = spawn(
    ringwireBin,
    ['bridge-host', '--server', server.url, '--token', token, '--tone', String(toneHz), '--listen', '127.0.0.1:0'],
    { env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((r) => child.on('exit', r));
  const url = await new Promise((ok, fail) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        try {
          ok(JSON.parse(line).listening);
        } catch {
          fail(new Error(`bridge-host printed ${line}`));
        }
      }
    });
    child.on('exit', (code) => fail(new Error(`bridge-host exited ${code}`)));
  });
  const post = async (path) => {
    const r = await fetch(`${url}${path}`, { method: 'POST' });
    if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
  };
  return {
    url,
    /** The simulated CallKit's call list. */
    async platformCalls() {
      return (await fetch(`${url}/platform/calls`)).json();
    },
    /** The lock-screen answer (CallKit's CXAnswerCallAction). */
    answer: (callId) => post(`/platform/answer/${callId}`),
    end: (callId) => post(`/platform/end/${callId}`),
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      child.kill('SIGKILL');
    },
  };
}

/**
 * The renderer processes of the Chromium instances this test process launched (descendants of
 * this process). A test that suspends a page runs it in a browser of its own, so these are that
 * page's processes.
 */
function rendererPids() {
  const procs = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Zygote-forked renderers rewrite their title: one string with spaces, not NUL-separated.
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.set(Number(entry), { cmd, ppid });
    } catch {
      // gone already
    }
  }
  const mine = (pid) => {
    for (let p = procs.get(pid); p; p = procs.get(p.ppid)) if (p.ppid === process.pid) return true;
    return false;
  };
  return [...procs].filter(([pid, p]) => p.cmd.includes('--type=renderer') && mine(pid)).map(([pid]) => pid);
}

/** A Chromium for pages that will be suspended; it must be the only browser of this test file. */
export async function launchSuspendableBrowser({ toneHz }) {
  return launchBrowser({ toneHz });
}

/**
 * Suspends a page the way iOS suspends a backgrounded WebView: freezes it through the DevTools
 * protocol (no JavaScript, no timers), then stops its renderer processes (SIGSTOP), for `ms`;
 * then SIGCONT and unfreeze. Returns the wall-clock window `{start, end}` in UNIX ms.
 */
export async function suspendPage(page, ms, { during } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Page.enable');
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  const pids = rendererPids();
  if (pids.length === 0) throw new Error('no renderer process found to stop');
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  const start = Date.now();
  try {
    if (during) await during(start);
    const left = start + ms - Date.now();
    if (left > 0) await sleep(left);
  } finally {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  }
  const end = Date.now();
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  await cdp.detach();
  return { start, end };
}

/** Samples of a 16-bit PCM WAV file (mono, or the first channel) and its rate. */
export function readWav(path) {
  const b = readFileSync(path);
  let off = 12;
  let rate = 48_000;
  let channels = 1;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
    } else if (id === 'data') {
      const end = Math.min(b.length, off + 8 + size);
      const samples = new Int16Array((end - off - 8) / 2 / channels);
      for (let i = 0; i < samples.length; i++) samples[i] = b.readInt16LE(off + 8 + i * 2 * channels);
      return { samples, rate };
    }
    off += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

/**
 * Per 20 ms frame of `samples`, whether the tone `hz` is present (Goertzel amplitude above
 * about -40 dBFS). Concealment fades out within a few frames, silence is below the floor.
 */
export function toneFrames({ samples, rate }, hz) {
  const n = Math.round(rate / 50);
  const k = (2 * Math.PI * hz) / rate;
  const coeff = 2 * Math.cos(k);
  const frames = [];
  for (let f = 0; (f + 1) * n <= samples.length; f++) {
    let s1 = 0;
    let s2 = 0;
    for (let i = f * n; i < (f + 1) * n; i++) {
      const s0 = samples[i] + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    const amplitude = (2 * Math.sqrt(Math.max(0, power))) / n;
    frames.push(amplitude > 330);
  }
  return frames;
}
