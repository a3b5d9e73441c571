//! `setup` mode: call setup through the real ringwire browser client (web/dist served by
//! `ringwire serve`) in Chromium. One browser, two tabs (caller device, callee device, each
//! signed in with its token through the sign-in form). Per call: t_invite right before
//! `phone.call(user)` (what the Call button runs; it opens the microphone first, then sends
//! `invite`); t_ringing when the caller's call reaches phase `ringing`; the callee answers 300 ms
//! after its call appears, through `phone.current.accept()` (what the Accept button runs),
//! stamped t_accept; `invite_sent_to_ringing_ms` (extra) starts when the `invite` leaves the
//! page, i.e. without the microphone opening that `invite_to_ringing_ms` includes; first audio at either page comes from setup-probe.js's AudioWorklet
//! detector (peak > 0.01 in one render quantum) on the remote track.
//!
//! The server's invite limit (burst 5, one more per 6 s by default) refuses fast sequential
//! calls with `rate_limited`; such an attempt is retried after the server's `retry after`
//! (logged to stderr, not counted as a failure). Raise RINGWIRE_INVITE_BURST to avoid the waits.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { here, launch, log, pipeConsole, sleep } from './common.mjs';

const probe = readFileSync(join(here, 'setup-probe.js'), 'utf8');
const detector = readFileSync(join(here, 'detector-worklet.js'), 'utf8');

async function openPhone(context, server, token, name) {
  const page = await context.newPage();
  pipeConsole(page, name);
  await page.addInitScript({ content: `${probe}(${JSON.stringify(detector)});` });
  await page.goto(server);
  await page.waitForSelector('#app[data-screen="signin"]');
  await page.fill('#token', token);
  await page.click('#signin-button');
  await page.waitForSelector('#app[data-screen="home"]');
  await page.waitForSelector('#status.online');
  await page.evaluate(() => window.__bench.hook());
  return page;
}

/** Polls an in-page expression until truthy; returns its value. */
async function until(page, what, fn, arg, ms) {
  const handle = await page.waitForFunction(fn, arg, { timeout: ms, polling: 20 }).catch((e) => {
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  });
  return handle.jsonValue();
}

const idle = (page) => page.evaluate(() => !window.ringwire.phone?.current?.live);

async function hangupAndSettle(caller, callee) {
  await caller.evaluate(() => window.ringwire.phone?.current?.hangup()).catch(() => undefined);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if ((await idle(caller)) && (await idle(callee))) return;
    await sleep(50);
  }
  await callee.evaluate(() => window.ringwire.phone?.current?.hangup()).catch(() => undefined);
  await sleep(500);
  if (!((await idle(caller)) && (await idle(callee)))) throw new Error('pages did not return to idle after hangup');
}

/** One call; returns {ringing, firstAudio, calleeHears} in ms, or throws. */
async function oneCall(caller, callee, user, index) {
  for (let attempt = 0; ; attempt++) {
    await caller.evaluate((g) => window.__bench.arm(g), index * 100 + attempt);
    await callee.evaluate((g) => window.__bench.arm(g), index * 100 + attempt);
    const tInvite = await caller.evaluate((u) => {
      const t = performance.timeOrigin + performance.now();
      window.ringwire.phone.call(u).catch((e) => window.__bench.errors.push(`call: ${e.message}`));
      return t;
    }, user);
    // Ringing, or the call ended (refused) before it rang.
    const outcome = await until(
      caller,
      'the caller to reach ringing',
      () => {
        const B = window.__bench;
        const ringing = B.at('caller', 'ringing');
        if (ringing) return { ringing };
        const ended = B.phases.find((p) => p.role === 'caller' && p.phase === 'ended');
        if (ended) return { ended };
        if (B.errors.length) return { errors: B.errors };
        return null;
      },
      undefined,
      15_000,
    );
    if (outcome.errors) throw new Error(outcome.errors.join('; '));
    if (outcome.ended) {
      const { endReason, endText } = outcome.ended;
      if (endReason === 'rate_limited' && attempt < 30) {
        const ms = Number(/(\d+)\s*ms/.exec(endText ?? '')?.[1] ?? 6000);
        log(`setup: call ${index + 1} refused (rate_limited), retrying in ${ms + 100} ms`);
        await hangupAndSettle(caller, callee);
        await sleep(ms + 100);
        continue;
      }
      throw new Error(`call ended before ringing: ${endReason} (${endText})`);
    }
    const tRinging = outcome.ringing;
    const tInviteSent = await caller.evaluate(() => window.__bench.inviteSent);

    const tIncoming = await until(callee, 'the callee to ring', () => window.__bench.at('callee', 'ringing'), undefined, 15_000);
    const tAccept = await callee.evaluate(async (tIn) => {
      const wait = tIn + 300 - (performance.timeOrigin + performance.now());
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const call = window.ringwire.phone.current;
      if (!call || call.role !== 'callee' || call.phase !== 'ringing') throw new Error(`no ringing call to accept (phase ${call?.phase})`);
      const t = performance.timeOrigin + performance.now();
      void call.accept();
      return t;
    }, tIncoming);

    const heard = (page, who) =>
      until(
        page,
        `first audio at the ${who}`,
        () => window.__bench.firstAudio ?? (window.__bench.errors.length ? { errors: window.__bench.errors } : null),
        undefined,
        15_000,
      );
    const [tCallerHears, tCalleeHears] = await Promise.all([heard(caller, 'caller'), heard(callee, 'callee')]);
    for (const t of [tCallerHears, tCalleeHears]) if (typeof t !== 'number') throw new Error(t.errors.join('; '));
    const result = {
      ringing: tRinging - tInvite,
      sentToRinging: tInviteSent === null ? null : tRinging - tInviteSent,
      firstAudio: tCallerHears - tAccept,
      calleeHears: tCalleeHears - tAccept,
    };
    if (result.firstAudio < 0 || result.calleeHears < 0) {
      throw new Error(`audio before accept (caller ${result.firstAudio.toFixed(1)} ms, callee ${result.calleeHears.toFixed(1)} ms)`);
    }
    return result;
  }
}

export async function run(input) {
  const { server, caller_token: callerToken, callee_token: calleeToken, callee_user: calleeUser, tone_wav: toneWav } = input;
  const calls = Number(input.calls);
  if (!server || !callerToken || !calleeToken || !calleeUser || !toneWav || !(calls >= 1)) {
    throw new Error('setup needs server, caller_token, callee_token, callee_user, calls >= 1, tone_wav');
  }
  const origin = new URL(server).origin;
  const browser = await launch(['--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${toneWav}`]);
  const out = {
    invite_to_ringing_ms: [],
    accept_to_first_audio_ms: [],
    accept_to_callee_hears_ms: [],
    invite_sent_to_ringing_ms: [],
    errors: [],
  };
  try {
    // bypassCSP: the server's CSP forbids blob: scripts, and the detector worklet is one.
    const context = await browser.newContext({ viewport: { width: 520, height: 720 }, bypassCSP: true });
    await context.grantPermissions(['microphone'], { origin });
    const caller = await openPhone(context, origin, callerToken, 'caller');
    const callee = await openPhone(context, origin, calleeToken, 'callee');
    for (let i = 0; i < calls; i++) {
      try {
        const r = await oneCall(caller, callee, calleeUser, i);
        out.invite_to_ringing_ms.push(r.ringing);
        out.accept_to_first_audio_ms.push(r.firstAudio);
        out.accept_to_callee_hears_ms.push(r.calleeHears);
        out.invite_sent_to_ringing_ms.push(r.sentToRinging);
        log(`setup: call ${i + 1}/${calls}: ringing ${r.ringing.toFixed(1)} ms, caller hears ${r.firstAudio.toFixed(1)} ms, callee hears ${r.calleeHears.toFixed(1)} ms after accept`);
      } catch (e) {
        log(`setup: call ${i + 1}/${calls} failed: ${e.message}`);
        out.invite_to_ringing_ms.push(null);
        out.accept_to_first_audio_ms.push(null);
        out.accept_to_callee_hears_ms.push(null);
        out.invite_sent_to_ringing_ms.push(null);
        out.errors.push(`call ${i + 1}: ${e.message}`);
      }
      try {
        await hangupAndSettle(caller, callee);
      } catch (e) {
        throw new Error(`after call ${i + 1}: ${e.message}`);
      }
      await sleep(200);
    }
  } finally {
    await browser.close().catch(() => undefined);
  }
  if (out.errors.length === 0) delete out.errors;
  if (out.invite_to_ringing_ms.every((v) => v === null)) throw new Error(`every call failed: ${out.errors.join('; ')}`);
  return out;
}
