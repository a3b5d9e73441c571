//! `run.mjs nat-phone '<json>'`: the browser client as one side of a NAT-lab call. Started by
//! `ringwire bench nat` inside a home network's namespace (`ip netns exec`), so Chromium, its
//! STUN and TURN traffic and its media all cross that network's NAT. Input:
//! `{server, token, role: "call"|"answer", to, toneHz, expectHz, talkMs, acceptAfterMs}`.
//! The answering side writes `{"event":"ready"}` to stderr once signed in (the caller starts
//! then). Result: `{ok, heard_hz, selected_pair: {gathered, local, remote, protocol, relay_transport},
//! accept_to_first_audio_ms: null, end}`; `ok` means the page was in the call and heard the
//! far end's tone.

import {
  callFacts,
  launchBrowser,
  openPhone,
  remoteTone,
  sleep,
  waitFor,
  waitScreen,
} from '../../web/tests/harness.mjs';
import { log } from './common.mjs';

/** The candidate pair the page's media uses, as the native report names it. */
async function selectedPair(page) {
  return page.evaluate(async () => {
    const pc = window.ringwire.phone?.current?.mediaPeer?.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let pairId = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? stats.get(pairId) : null;
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    // What the page gathered, by type (and relay transport): tells a path Chromium chose
    // from one it had no candidate for.
    const gathered = {};
    stats.forEach((s) => {
      if (s.type !== 'local-candidate') return;
      const key = s.candidateType === 'relay' ? `relay-${s.relayProtocol ?? '?'}` : s.candidateType;
      gathered[key] = (gathered[key] ?? 0) + 1;
    });
    return {
      gathered,
      local: local?.candidateType ?? null,
      remote: remote?.candidateType ?? null,
      protocol: local?.protocol ?? null,
      relay_transport: local?.candidateType === 'relay' ? (local.relayProtocol ?? null) : null,
    };
  });
}

export async function run(input) {
  const { server, token, role, to, toneHz, expectHz, talkMs = 3000, acceptAfterMs = 1200 } = input;
  // Real host addresses, not mDNS names: the far end is in another network either way, and
  // the lab has no multicast DNS.
  // The lab serves the page over plain HTTP from a non-loopback address; the microphone (a
  // secure-context feature) needs the origin treated as secure, as HTTPS would make it.
  const origin = new URL(server).origin;
  const browser = await launchBrowser({
    toneHz,
    mdns: false,
    extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${origin}`],
  });
  try {
    const page = await openPhone(browser, { url: server }, token, `chromium-${role}`);
    if (role === 'answer') {
      process.stderr.write(`${JSON.stringify({ event: 'ready' })}\n`);
      await waitScreen(page, 'incoming', 30_000);
      await sleep(acceptAfterMs);
      await page.click('#accept-button');
    } else {
      await page.fill('#callee', to);
      await page.click('#call-button');
    }
    let active = true;
    try {
      await waitFor('an active call', async () => (await callFacts(page))?.phase === 'active', 20_000);
    } catch (e) {
      log(`no active call: ${e.message}`);
      active = false;
    }
    let heard = { hz: null, rms: 0 };
    let pair = null;
    if (active) {
      await sleep(Math.max(0, talkMs / 2 - 750));
      heard = await remoteTone(page, 1500);
      pair = await selectedPair(page);
    }
    if (role === 'call') {
      await sleep(Math.max(0, talkMs / 2 - 750));
      if (active) await page.click('#hangup-button').catch(() => undefined);
    }
    await waitScreen(page, 'home', 45_000).catch(() => undefined);
    const facts = await callFacts(page);
    const ok = active && heard.hz !== null && Math.abs(heard.hz - expectHz) <= 15;
    return {
      ok,
      heard_hz: heard.hz,
      selected_pair: pair,
      end: facts?.endReason ?? null,
    };
  } finally {
    await browser.close();
  }
}
