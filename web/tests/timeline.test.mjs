// The browser's call timelines (web/src/timeline.ts): after a call between the page and a native
// softphone, through a real `ringwire serve`, the server holds one timeline per device — the
// browser's (`platform: "web"`) and the native engine's (`"native"`) — read back through the
// admin API (`GET /v1/admin/calls/{call_id}/timelines`, docs/http.md). The recorder's bounds
// (128 events with the last slot kept for `ended`, times never going backwards) are checked in
// Node on the module itself, compiled with the build's esbuild.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  callFacts,
  Cleanup,
  grantMicrophone,
  launchBrowser,
  nativePhone,
  openPhone,
  remoteTone,
  startServer,
  waitFor,
  waitScreen,
} from './harness.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const BROWSER_HZ = 440;
const NATIVE_HZ = 660;
/** Kinds a browser has no way to see. */
const NOT_IN_A_BROWSER = ['push_received', 'reported_to_os', 'audio_session_activated'];

async function loadTimeline() {
  const out = await build({
    entryPoints: [join(web, 'src/timeline.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

test('the recorder keeps 128 events at most, the end always, and times in order', async () => {
  const { TimelineRecorder, TimelineUploads } = await loadTimeline();
  const times = [1000, 1005, 990, 2000];
  let i = 0;
  const clock = () => times[Math.min(i++, times.length - 1)];
  const rec = new TimelineRecorder('a'.repeat(32), 'outgoing', clock);
  rec.noteOnce({ kind: 'ringing_shown' });
  rec.noteOnce({ kind: 'ringing_shown' });
  rec.note({ kind: 'answered', from_lock_screen: false });
  rec.note({ kind: 'media_connected' }); // the clock went back: clamped
  for (let n = 0; n < 200; n++) rec.note({ kind: 'quality', verdict: 'good' });
  const timeline = rec.finish('user_not_found', true);
  assert.equal(timeline.platform, 'web');
  assert.equal(timeline.events.length, 128);
  assert.deepEqual(timeline.events.at(-1), { at_ms: 2000, kind: 'ended', reason: 'failed', ended_locally: true });
  assert.deepEqual(
    timeline.events.slice(0, 3).map((e) => [e.kind, e.at_ms]),
    [['ringing_shown', 1000], ['answered', 1005], ['media_connected', 1005]],
  );
  for (let n = 1; n < timeline.events.length; n++) assert.ok(timeline.events[n].at_ms >= timeline.events[n - 1].at_ms);
  assert.equal(rec.finish('hangup', false), null, 'a timeline is finished once');

  // The queue: sent when connected, 16 at most, dropped on stored or a final error only.
  const sent = [];
  let up = false;
  const uploads = new TimelineUploads((m) => sent.push(m), () => up);
  const ids = Array.from({ length: 18 }, (_, n) => n.toString(16).padStart(32, '0'));
  for (const id of ids) uploads.add({ call_id: id, platform: 'web', direction: 'incoming', events: [] });
  assert.equal(sent.length, 0);
  assert.equal(uploads.pending, 16);
  up = true;
  uploads.resend();
  assert.deepEqual(sent.map((m) => m.call_id), ids.slice(2));
  assert.equal(sent[0].type, 'call_timeline');
  uploads.stored(ids[2]);
  uploads.refused({ code: 'already_stored', message: '', call_id: ids[3], ref_type: 'call_timeline' });
  uploads.refused({ code: 'not_a_participant', message: '', call_id: ids[4], ref_type: 'call_timeline' });
  uploads.refused({ code: 'rate_limited', message: '', call_id: ids[5], ref_type: 'call_timeline', retry_after_ms: 10 });
  assert.equal(uploads.pending, 13, 'rate_limited keeps it');
  sent.length = 0;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sent.length, 13, 'resent after retry_after_ms');
  uploads.stop();
});

let server;
let browser;
let devices;
let names;
let round = 0;
const cleanup = new Cleanup();

before(async () => {
  server = await startServer();
  cleanup.add(() => server.stop());
  browser = await launchBrowser({ toneHz: BROWSER_HZ });
  cleanup.add(() => browser.close());
});

beforeEach(async () => {
  round += 1;
  names = { alice: `tlalice${round}`, bob: `tlbob${round}` };
  await server.addUser(names.alice, 'Alice');
  await server.addUser(names.bob, 'Bob');
  devices = {
    aliceWeb: await server.addDevice(names.alice, 'browser'),
    bobNative: await server.addDevice(names.bob, 'phone'),
    bobWeb: await server.addDevice(names.bob, 'browser'),
    aliceNative: await server.addDevice(names.alice, 'phone'),
  };
});

after(() => cleanup.run());

async function timelines(callId) {
  const response = await fetch(`${server.url}/v1/admin/calls/${callId}/timelines`, {
    headers: { Authorization: `Bearer ${server.adminToken}` },
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).timelines;
}

/** Both devices' timelines of `callId`, once the server stored them. */
async function bothTimelines(callId) {
  return waitFor('two stored timelines', async () => {
    const all = await timelines(callId);
    return all.length >= 2 ? all : null;
  }, 15_000, 200);
}

/** Asserts `kinds` appear in `events` in this order (others may come between). */
function assertInOrder(events, kinds) {
  const seen = events.map((e) => e.kind);
  let from = 0;
  for (const kind of kinds) {
    const at = seen.indexOf(kind, from);
    assert.ok(at >= 0, `${kind} after ${kinds.slice(0, kinds.indexOf(kind)).join(', ')} in ${seen.join(', ')}`);
    from = at + 1;
  }
}

function assertBrowserTimeline(timeline, { direction, deviceId, endedLocally }) {
  assert.equal(timeline.platform, 'web');
  assert.equal(timeline.direction, direction);
  assert.equal(timeline.device_id, deviceId);
  const { events } = timeline;
  assertInOrder(events, ['ringing_shown', 'answered', 'media_connected', 'first_audio', 'ended']);
  for (let n = 1; n < events.length; n++) assert.ok(events[n].at_ms >= events[n - 1].at_ms, 'times in order');
  for (const kind of NOT_IN_A_BROWSER) assert.ok(!events.some((e) => e.kind === kind), `no ${kind} from a browser`);
  assert.deepEqual(events.find((e) => e.kind === 'answered'), { ...events.find((e) => e.kind === 'answered'), from_lock_screen: false });
  const end = events.at(-1);
  assert.equal(end.kind, 'ended');
  assert.equal(end.reason, 'hangup');
  assert.equal(end.ended_locally, endedLocally);
  // Recorded on this machine's clock during the test.
  assert.ok(Math.abs(end.at_ms - Date.now()) < 60_000, `ended at ${end.at_ms}`);
}

test('browser calls native: both devices upload their timelines; the browser\'s says web, outgoing', async () => {
  const native = nativePhone('answer', { server, token: devices.bobNative.token, toneHz: NATIVE_HZ, acceptAfterMs: 1500 });
  const alice = await openPhone(browser, server, devices.aliceWeb.token, 'alice');
  try {
    await waitFor('both online', async () => (await server.connectedDevices()) >= 2);
    await alice.fill('#callee', names.bob);
    await alice.click('#call-button');
    await waitFor('alice in an active call', async () => (await callFacts(alice))?.phase === 'active');
    const callId = (await callFacts(alice)).id;
    await remoteTone(alice, 1000);
    await alice.click('#hangup-button');
    await waitScreen(alice, 'home');
    await native.report;

    const all = await bothTimelines(callId);
    assert.equal(all.length, 2);
    assert.deepEqual(all.map((t) => t.platform).sort(), ['native', 'web']);
    assertBrowserTimeline(all.find((t) => t.platform === 'web'), {
      direction: 'outgoing',
      deviceId: devices.aliceWeb.deviceId,
      endedLocally: true,
    });
    const nativeTimeline = all.find((t) => t.platform === 'native');
    assert.equal(nativeTimeline.direction, 'incoming');
    assert.equal(nativeTimeline.device_id, devices.bobNative.deviceId);
    // The page forgot it: stored means dropped from the queue.
    assert.equal(await alice.evaluate(() => window.ringwire.phone.timelines.pending), 0);
  } finally {
    native.kill();
    await alice.context().close();
  }
});

test('native calls browser: the browser\'s timeline says incoming, ended by the far end', async () => {
  const bob = await openPhone(browser, server, devices.bobWeb.token, 'bob', { microphone: false });
  const native = nativePhone('call', { server, token: devices.aliceNative.token, to: names.bob, toneHz: NATIVE_HZ, durationS: 4 });
  try {
    await waitScreen(bob, 'incoming');
    const callId = (await callFacts(bob)).id;
    await grantMicrophone(bob, server);
    await bob.click('#accept-button');
    await waitFor('bob in an active call', async () => (await callFacts(bob))?.phase === 'active');
    await native.report;
    await waitScreen(bob, 'home');

    const all = await bothTimelines(callId);
    assert.deepEqual(all.map((t) => t.platform).sort(), ['native', 'web']);
    assertBrowserTimeline(all.find((t) => t.platform === 'web'), {
      direction: 'incoming',
      deviceId: devices.bobWeb.deviceId,
      endedLocally: false,
    });
  } finally {
    native.kill();
    await bob.context().close();
  }
});
