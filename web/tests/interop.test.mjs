// The browser client against the native engine and against itself, in a real Chromium
// (Debian's, driven by playwright-core), through a real `ringwire serve` on loopback. Every call
// checks audio in both directions: the page analyses what it receives with WebAudio and the
// native softphone reports the dominant frequency of its recording. Chromium keeps its default
// mDNS host names throughout, and the callee-side tests check that the browser really sent only
// `.local` host candidates while it pre-connected, so the native engine had to cope with them.

import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  callFacts,
  grantMicrophone,
  Cleanup,
  launchBrowser,
  nativePhone,
  openPhone,
  remoteTone,
  screen,
  shot,
  startServer,
  waitFor,
  waitScreen,
} from './harness.mjs';

const BROWSER_HZ = 440;
const BROWSER2_HZ = 550;
const NATIVE_HZ = 660;

/** A frequency is "found" within a few FFT bins (5.9 Hz each at 48 kHz / 8192). */
function assertTone(found, expected, what) {
  assert.ok(found !== null && Math.abs(found - expected) < 20, `${what}: expected ~${expected} Hz, found ${found}`);
}

/** The protocol end reason in a native call report (`{"kind":"protocol","reason":...}`). */
function endReason(report) {
  return report.end_reason?.reason ?? JSON.stringify(report.end_reason);
}

let server;
let browser;
let browser2;
let devices;
let names;
let round = 0;
const cleanup = new Cleanup();

before(async () => {
  server = await startServer();
  cleanup.add(() => server.stop());
  // Two Chromium instances: a fake microphone is per browser process, and each side of a
  // browser-to-browser call needs its own tone.
  browser = await launchBrowser({ toneHz: BROWSER_HZ });
  browser2 = await launchBrowser({ toneHz: BROWSER2_HZ });
  cleanup.add(() => browser.close());
  cleanup.add(() => browser2.close());
});

/**
 * Fresh users and devices for each test, so a call a failed test left behind (still active on
 * the server for its reconnect grace) cannot make the next test's callee busy.
 */
beforeEach(async () => {
  round += 1;
  names = { alice: `alice${round}`, bob: `bob${round}`, carol: `carol${round}` };
  await server.addUser(names.alice, 'Alice Liddell');
  await server.addUser(names.bob, 'Bob Builder');
  await server.addUser(names.carol, 'Carol');
  devices = {
    aliceWeb: await server.addDevice(names.alice, 'browser'),
    bobWeb: await server.addDevice(names.bob, 'browser'),
    bobNative: await server.addDevice(names.bob, 'phone'),
    carolNative: await server.addDevice(names.carol, 'phone'),
  };
});

after(() => cleanup.run());

/** Waits until the server sees at least `n` devices connected. */
async function connected(n) {
  await waitFor(`${n} connected devices`, async () => (await server.connectedDevices()) >= n);
}

async function closePage(page) {
  await page.context().close();
}

test('browser calls native: audio both ways, hangup from the browser, records agree', async () => {
  const native = nativePhone('answer', {
    server,
    token: devices.bobNative.token,
    toneHz: NATIVE_HZ,
    acceptAfterMs: 1500,
  });
  const alice = await openPhone(browser, server, devices.aliceWeb.token, 'alice');
  try {
    await shot(alice, '01-home');
    assert.equal(await alice.textContent('#who-name'), `Alice Liddell (${names.alice})`);
    await connected(2);

    await alice.fill('#callee', names.bob);
    await alice.click('#call-button');
    await waitScreen(alice, 'outgoing');
    assert.equal(await alice.textContent('#out-peer'), names.bob);
    await alice.waitForSelector('#out-state:has-text("Ringing")');
    await shot(alice, '02-outgoing');

    await waitFor('alice in an active call', async () => (await callFacts(alice))?.phase === 'active');
    await waitScreen(alice, 'incall');
    // Chromium sends every packet as RED once it is negotiated: the native side unwraps them.
    assert.equal((await callFacts(alice)).red, true, 'RED negotiated with the native callee');
    const heard = await remoteTone(alice);
    assertTone(heard.hz, NATIVE_HZ, 'browser hears native');
    await waitFor('quality figures on screen', async () => /RTT \d+ ms/.test(await alice.textContent('#quality')));
    await shot(alice, '03-incall');
    assert.equal(await alice.textContent('#call-state'), 'In call');

    await alice.click('#hangup-button');
    await waitScreen(alice, 'home');
    assert.match(await alice.textContent('#last-call'), /Call ended/);

    const report = await native.report;
    assert.equal(endReason(report), 'hangup');
    assert.equal(report.ended_locally, false);
    assert.equal(report.preconnected, true, 'the native callee pre-connected while ringing');
    assertTone(report.heard_hz, BROWSER_HZ, 'native hears browser');
    assert.ok(report.frames.decoded > 50, `native decoded ${report.frames.decoded} frames`);

    const [record] = await server.calls(names.alice);
    assert.equal(record.end_reason, 'hangup');
    assert.equal(record.ended_by_device, devices.aliceWeb.deviceId);
    assert.equal(record.answered_device, devices.bobNative.deviceId);
    // The page's history lists the call it just made, answered, with its talk time.
    // An entry can show up first from a read made while the call rang; the page reads again
    // 300 ms after the end, so wait for that one rather than take the first.
    await waitFor('history entry', async () => (await alice.textContent('#history')).includes(names.bob));
    await waitFor('history entry answered', async () => /answered · 0:0\d/.test(await alice.textContent('#history li')), 5_000);
    assert.match(await alice.textContent('#history li'), /answered · 0:0\d/);
    await shot(alice, '04-ended');
  } finally {
    native.kill();
    await closePage(alice);
  }
});

test('native calls browser: the browser pre-connects with mDNS candidates, accepts, the native side hangs up', async () => {
  // No microphone permission yet: the pre-connect runs with Chromium's mDNS host names.
  const bob = await openPhone(browser, server, devices.bobWeb.token, 'bob', { microphone: false });
  const native = nativePhone('call', {
    server,
    token: devices.carolNative.token,
    to: names.bob,
    toneHz: NATIVE_HZ,
    durationS: 4,
  });
  try {
    await waitScreen(bob, 'incoming');
    await shot(bob, '05-incoming');
    assert.equal(await bob.textContent('#in-peer'), 'Carol');
    // Pre-connect: the browser offered and gathered before anyone accepted, and without
    // microphone access Chromium hides its host addresses behind `.local` names.
    await waitFor('pre-connected', async () => (await callFacts(bob))?.sentCandidates?.mdns > 0);
    const before = await callFacts(bob);
    assert.equal(before.sentCandidates.host, 0, 'only mDNS host candidates before accept');

    // The user accepts and allows the microphone at the prompt.
    await grantMicrophone(bob, server);
    await bob.click('#accept-button');
    await waitFor('bob in an active call', async () => (await callFacts(bob))?.phase === 'active');
    assert.equal((await callFacts(bob)).red, true, 'RED negotiated with the native caller');
    const heard = await remoteTone(bob);
    assertTone(heard.hz, NATIVE_HZ, 'browser hears native');

    const report = await native.report;
    await waitScreen(bob, 'home');
    assert.match(await bob.textContent('#last-call'), /The other side hung up/);
    assert.equal(endReason(report), 'hangup');
    assert.equal(report.ended_locally, true);
    assertTone(report.heard_hz, BROWSER_HZ, 'native hears browser');
    assert.equal(report.preconnected, true);

    const [record] = await server.calls(names.bob);
    assert.equal(record.caller_user, names.carol);
    assert.equal(record.end_reason, 'hangup');
    assert.equal(record.ended_by_device, devices.carolNative.deviceId);
    assert.equal(record.answered_device, devices.bobWeb.deviceId);
  } finally {
    native.kill();
    await closePage(bob);
  }
});

test('multi-device: the browser accepts, the native device stops ringing with answered_elsewhere', async () => {
  const bobNative = nativePhone('answer', {
    server,
    token: devices.bobNative.token,
    toneHz: NATIVE_HZ,
    acceptAfterMs: 20_000,
  });
  const bob = await openPhone(browser2, server, devices.bobWeb.token, 'bob');
  const alice = await openPhone(browser, server, devices.aliceWeb.token, 'alice');
  try {
    await connected(3);
    await alice.fill('#callee', names.bob);
    await alice.click('#call-button');
    await waitScreen(bob, 'incoming');
    // Both of bob's devices ring: the caller hears `ringing` from each.
    await waitFor('two ringing devices', async () =>
      alice.evaluate(() => window.ringwire.phone.current.ringingDevices.size === 2),
    );
    await bob.click('#accept-button');
    await waitFor('alice active', async () => (await callFacts(alice))?.phase === 'active');
    await waitFor('bob active', async () => (await callFacts(bob))?.phase === 'active');
    assert.equal((await callFacts(alice)).answeredDevice, devices.bobWeb.deviceId);
    assert.equal((await callFacts(alice)).peers, 1, 'the caller closed the native device connection');

    const report = await bobNative.report;
    assert.equal(endReason(report), 'answered_elsewhere');
    assert.equal(report.callkit_end_reason, 'answeredElsewhere');

    assertTone((await remoteTone(alice)).hz, BROWSER2_HZ, 'alice hears bob');
    assertTone((await remoteTone(bob)).hz, BROWSER_HZ, 'bob hears alice');
    await alice.click('#hangup-button');
    await waitScreen(bob, 'home');
    const [record] = await server.calls(names.bob);
    assert.equal(record.answered_device, devices.bobWeb.deviceId);
    assert.equal(record.end_reason, 'hangup');
  } finally {
    bobNative.kill();
    await closePage(alice);
    await closePage(bob);
  }
});

test('multi-device, converse: the native device accepts, the browser stops ringing', async () => {
  const bob = await openPhone(browser2, server, devices.bobWeb.token, 'bob');
  const bobNative = nativePhone('answer', {
    server,
    token: devices.bobNative.token,
    toneHz: NATIVE_HZ,
    acceptAfterMs: 1500,
    durationS: 3,
  });
  const alice = await openPhone(browser, server, devices.aliceWeb.token, 'alice');
  try {
    await connected(3);
    await alice.fill('#callee', names.bob);
    await alice.click('#call-button');
    await waitScreen(bob, 'incoming');
    await waitScreen(bob, 'home', 20_000);
    await shot(bob, '06-answered-elsewhere');
    assert.match(await bob.textContent('#last-call'), /Answered on another device/);
    assert.equal((await callFacts(bob)).endReason, 'answered_elsewhere');

    await waitFor('alice active', async () => (await callFacts(alice))?.phase === 'active');
    assertTone((await remoteTone(alice)).hz, NATIVE_HZ, 'alice hears the native device');
    const report = await bobNative.report;
    assert.equal(endReason(report), 'hangup');
    assertTone(report.heard_hz, BROWSER_HZ, 'native hears alice');
    await waitScreen(alice, 'home');
    assert.match(await alice.textContent('#last-call'), /The other side hung up/);
    // Hung up by the native callee: the record says so.
    await waitFor('record ended', async () => (await server.calls(names.alice))[0]?.state === 'ended');
    const [record] = await server.calls(names.alice);
    assert.equal(record.end_reason, 'hangup');
    assert.equal(record.ended_by_device, devices.bobNative.deviceId);
    assert.equal(record.answered_device, devices.bobNative.deviceId);
  } finally {
    bobNative.kill();
    await closePage(alice);
    await closePage(bob);
  }
});

test('browser to browser through the server; the callee hangs up', async () => {
  const alice = await openPhone(browser, server, devices.aliceWeb.token, 'alice');
  const bob = await openPhone(browser2, server, devices.bobWeb.token, 'bob');
  try {
    await connected(2);
    await alice.fill('#callee', names.bob);
    await alice.click('#call-button');
    await waitScreen(bob, 'incoming');
    await bob.click('#accept-button');
    await waitFor('alice active', async () => (await callFacts(alice))?.phase === 'active');
    await waitFor('bob active', async () => (await callFacts(bob))?.phase === 'active');
    assertTone((await remoteTone(alice)).hz, BROWSER2_HZ, 'alice hears bob');
    assertTone((await remoteTone(bob)).hz, BROWSER_HZ, 'bob hears alice');

    await bob.click('#mute-button');
    assert.equal(await bob.getAttribute('#mute-button', 'aria-pressed'), 'true');
    await bob.click('#mute-button');

    await bob.click('#hangup-button');
    await waitScreen(alice, 'home');
    assert.match(await alice.textContent('#last-call'), /The other side hung up/);
    assert.match(await bob.textContent('#last-call'), /Call ended/);
    await waitFor('both records ended', async () => {
      const [a] = await server.calls(names.alice);
      return a.state === 'ended';
    });
    const [a] = await server.calls(names.alice);
    assert.equal(a.end_reason, 'hangup');
    assert.equal(a.ended_by_device, devices.bobWeb.deviceId);
  } finally {
    await closePage(alice);
    await closePage(bob);
  }
});

test('decline from the browser ends the native caller with declined', async () => {
  const bob = await openPhone(browser, server, devices.bobWeb.token, 'bob');
  const native = nativePhone('call', { server, token: devices.carolNative.token, to: names.bob, toneHz: NATIVE_HZ });
  try {
    await waitScreen(bob, 'incoming');
    await bob.click('#decline-button');
    await waitScreen(bob, 'home');
    assert.match(await bob.textContent('#last-call'), /Call declined/);
    const report = await native.report;
    assert.equal(endReason(report), 'declined');
    assert.equal(await screen(bob), 'home');
  } finally {
    native.kill();
    await closePage(bob);
  }
});

test('a bad token is refused on the sign-in screen', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(server.url);
    await page.fill('#token', `rw_${'0'.repeat(64)}`);
    await page.click('#signin-button');
    await page.waitForSelector('#signin-error:has-text("not valid")');
    await shot(page, '00-signin-refused');
    assert.equal(await screen(page), 'signin');
  } finally {
    await context.close();
  }
});
