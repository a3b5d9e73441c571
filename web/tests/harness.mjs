// What the browser tests start for real: a `ringwire serve` on a free loopback port with its own
// data directory, Debian's Chromium through playwright-core (fake microphone playing a WAV tone,
// loopback candidates allowed, mDNS host names left at Chromium's default unless asked), and
// native softphones (`ringwire call` / `ringwire answer`). Nothing here stands in for a
// component; it only starts them, waits for them and reads what they report.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** `ringwire serve` with a fresh store; the admin API creates users and devices. */
export async function startServer() {
  const port = await freePort();
  const dataDir = tempDir('server');
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(ringwireBin, ['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir], {
    env: { ...process.env, RINGWIRE_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
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
export async function launchBrowser({ toneHz, mdns = true }) {
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
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args });
  return browser;
}

/**
 * Opens the server's page in a new tab and signs in with `token` through the form. With
 * `microphone: false` the page starts without microphone permission (grant it later with
 * `grantMicrophone`), so Chromium sends mDNS host names until then.
 */
export async function openPhone(browser, server, token, name, { microphone = true } = {}) {
  const context = await browser.newContext({ viewport: { width: 520, height: 720 } });
  if (microphone) await grantMicrophone(context.pages()[0] ?? context, server);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`[${name} console] ${m.text()}`);
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
  return { child, report, kill: () => child.kill('SIGKILL') };
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
