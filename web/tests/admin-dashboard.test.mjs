// The operator's dashboard (/admin/) in a real Chromium against a real `ringwire serve`.
// Four calls really happen on the server between raw protocol clients (WebSockets opened by
// Chromium pages, speaking protocol v1 frame by frame): one answered from the lock screen, one
// declined, one missed (the ring timeout passes), one with poor quality. Each device then
// uploads its timeline of the call as a device would (`call_timeline`, protocol.md 5.14),
// stamped with the moments it saw. The test signs in to the dashboard with the admin token,
// checks that every figure on the page is the endpoint's, opens two calls' drill-downs, and
// saves screenshots in web/test-results/.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, Cleanup, launchBrowser, shot, sleep, startServer } from './harness.mjs';

const cleanup = new Cleanup();
let server;
let browser;

before(async () => {
  // A short ring timeout, so the missed call is missed in seconds.
  server = await startServer({ env: { RINGWIRE_RING_TIMEOUT_SECS: '3' } });
  cleanup.add(() => server.stop());
  browser = await launchBrowser({ toneHz: 440 });
  cleanup.add(() => browser.close());
});

after(() => cleanup.run());

/**
 * A device that speaks the protocol itself over a WebSocket opened in a Chromium page of the
 * server's origin (a JSON page, so no page script is involved). Frames it receives wait in
 * `window.inbox` until the test takes them.
 */
class RawDevice {
  static async connect(token, name) {
    const context = await browser.newContext();
    cleanup.add(() => context.close());
    const page = await context.newPage();
    await page.goto(`${server.url}/healthz`);
    await page.evaluate(
      (url) =>
        new Promise((ok, fail) => {
          window.inbox = [];
          const ws = new WebSocket(url);
          window.ws = ws;
          ws.onmessage = (e) => window.inbox.push(JSON.parse(e.data));
          ws.onopen = () => {
            ws.send(JSON.stringify({ type: 'hello', versions: [1], client: 'admin-dashboard-test' }));
            ok();
          };
          ws.onerror = () => fail(new Error('websocket failed'));
        }),
      `${server.url.replace('http', 'ws')}/v1/ws?token=${token}`,
    );
    const device = new RawDevice(page, name);
    device.deviceId = (await device.next('welcome')).device_id;
    return device;
  }

  constructor(page, name) {
    this.page = page;
    this.name = name;
  }

  send(message) {
    return this.page.evaluate((m) => window.ws.send(JSON.stringify(m)), message);
  }

  /** The first waiting frame of `type` (for `callId`, when given), taken out of the inbox. */
  async next(type, callId) {
    const handle = await this.page.waitForFunction(
      ([type, callId]) => {
        const i = window.inbox.findIndex((m) => m.type === type && (!callId || m.call_id === callId));
        return i < 0 ? null : window.inbox.splice(i, 1)[0];
      },
      [type, callId],
      { timeout: 15_000 },
    );
    return handle.jsonValue();
  }
}

/** A device's timeline of one call, stamped as things happen (its own clock). */
class Recorder {
  constructor(device, callId, platform, direction) {
    Object.assign(this, { device, callId, platform, direction, events: [] });
  }

  note(kind, fields = {}) {
    this.events.push({ at_ms: Date.now(), kind, ...fields });
  }

  /** Uploads it and waits for the server's answer. */
  async upload() {
    await this.device.send({
      type: 'call_timeline',
      call_id: this.callId,
      platform: this.platform,
      direction: this.direction,
      events: this.events,
    });
    const answer = await this.device.next('timeline_stored', this.callId);
    assert.equal(answer.call_id, this.callId);
  }
}

const newCallId = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');

/** `caller` invites `callee`'s user; both timelines start. Returns once the callee has rung. */
async function ring(caller, callee, calleeUser, { callerPlatform, calleePlatform, push }) {
  const callId = newCallId();
  const out = new Recorder(caller, callId, callerPlatform, 'outgoing');
  const inc = new Recorder(callee, callId, calleePlatform, 'incoming');
  const invitedAt = Date.now();
  await caller.send({ type: 'invite', call_id: callId, to_user: calleeUser });
  await caller.next('calling', callId);
  await callee.next('incoming', callId);
  if (push) {
    inc.note('push_received', { sent_at_ms: invitedAt });
    await sleep(40);
  }
  inc.note('reported_to_os');
  if (push) inc.note('app_state', { state: 'locked' });
  inc.note('ringing_shown');
  await callee.send({ type: 'ringing', call_id: callId });
  await caller.next('ringing', callId);
  out.note('ringing_shown');
  return { callId, out, inc };
}

/** The callee answers; audio flows on both sides. */
async function answer(call, caller, callee, { fromLockScreen }) {
  await sleep(1200);
  call.inc.note('answered', { from_lock_screen: fromLockScreen });
  await callee.send({ type: 'accept', call_id: call.callId });
  await caller.next('accepted', call.callId);
  await callee.next('accepted', call.callId);
  call.inc.note('audio_session_activated');
  await sleep(120);
  call.inc.note('media_connected');
  call.out.note('media_connected');
  await sleep(250);
  for (const side of [call.out, call.inc]) {
    side.note('first_audio');
    side.note('quality', { verdict: 'good' });
  }
}

/** The caller hangs up an answered call. */
async function hangUp(call, caller, callee) {
  await caller.send({ type: 'hangup', call_id: call.callId });
  await caller.next('ended', call.callId);
  call.out.note('ended', { reason: 'hangup', ended_locally: true });
  await callee.next('ended', call.callId);
  call.inc.note('ended', { reason: 'hangup', ended_locally: false });
}

/** The value at a dotted path of the report (`platforms.ios.poor_share`). */
function at(report, path) {
  return path.split('.').reduce((v, key) => (v === undefined || v === null ? undefined : v[key]), report);
}

async function adminGet(path, token = server.adminToken) {
  const response = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, path);
  return response.json();
}

test('the dashboard shows the figures of real calls and draws one call from every device', async () => {
  for (const user of ['alice', 'bob', 'carol']) await server.addUser(user, user[0].toUpperCase() + user.slice(1));
  const alice = await RawDevice.connect((await server.addDevice('alice', 'pixel')).token, 'alice');
  const bob = await RawDevice.connect((await server.addDevice('bob', 'iphone')).token, 'bob');
  const carol = await RawDevice.connect((await server.addDevice('carol', 'laptop')).token, 'carol');
  const calls = {};

  // 1. Alice (Android) calls Bob's locked iPhone, woken by a push; he answers from the lock
  //    screen and audio plays at once; the quality dips to fair for a while.
  const lock = await ring(alice, bob, 'bob', { callerPlatform: 'android', calleePlatform: 'ios', push: true });
  await answer(lock, alice, bob, { fromLockScreen: true });
  await sleep(1500);
  lock.inc.note('quality', { verdict: 'fair', cause: 'jitter' });
  await sleep(1000);
  lock.inc.note('quality', { verdict: 'good' });
  await sleep(800);
  await hangUp(lock, alice, bob);
  calls.lock = lock.callId;

  // 2. Bob declines.
  const declined = await ring(alice, bob, 'bob', { callerPlatform: 'android', calleePlatform: 'ios', push: false });
  await sleep(900);
  await bob.send({ type: 'decline', call_id: declined.callId });
  await bob.next('ended', declined.callId);
  declined.inc.note('ended', { reason: 'declined', ended_locally: true });
  await alice.next('ended', declined.callId);
  declined.out.note('ended', { reason: 'declined', ended_locally: false });
  calls.declined = declined.callId;

  // 3. Nobody answers: the ring timeout (3 s) passes.
  const missed = await ring(alice, bob, 'bob', { callerPlatform: 'android', calleePlatform: 'ios', push: true });
  const ended = await alice.next('ended', missed.callId);
  assert.equal(ended.reason, 'no_answer');
  missed.out.note('ended', { reason: 'no_answer', ended_locally: false });
  await bob.next('ended', missed.callId);
  missed.inc.note('ended', { reason: 'no_answer', ended_locally: false });
  calls.missed = missed.callId;

  // 4. Carol (browser) calls Bob, answered with the app open; the network turns poor, the
  //    engine adds redundancy, then moves to a relay.
  const poor = await ring(carol, bob, 'bob', { callerPlatform: 'web', calleePlatform: 'ios', push: false });
  await answer(poor, carol, bob, { fromLockScreen: false });
  await sleep(800);
  for (const side of [poor.out, poor.inc]) {
    side.note('quality', { verdict: 'poor', cause: 'network_loss', action: 'added_redundancy' });
  }
  await sleep(1200);
  poor.inc.note('quality', { verdict: 'poor', cause: 'network_loss', action: 'switched_to_relay' });
  await sleep(1000);
  poor.out.note('quality', { verdict: 'fair', cause: 'network_delay' });
  await sleep(500);
  await hangUp(poor, carol, bob);
  calls.poor = poor.callId;

  // Every device uploads what it saw, as it would after each call.
  for (const call of [lock, declined, missed, poor]) {
    await call.inc.upload();
    await call.out.upload();
  }
  // A replay is acknowledged as already stored, and changes nothing.
  await bob.send({ type: 'call_timeline', call_id: lock.callId, platform: 'ios', direction: 'incoming', events: lock.inc.events });
  const replay = await bob.next('error', lock.callId);
  assert.equal(replay.code, 'already_stored');

  // The dashboard: signed in with the admin token, which stays in the tab.
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  cleanup.add(() => context.close());
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    // The wrong token's refusals (401) are expected; anything else is not.
    if (m.type() === 'error' && !m.text().includes('status of 401')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${server.url}/admin/`);
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#admin-token', 'not-the-token');
  await page.click('#signin-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.includes('refused'));
  await page.fill('#admin-token', server.adminToken);
  await page.click('#signin-form button[type="submit"]');
  await page.waitForSelector('#dashboard:not([hidden])');
  await page.waitForSelector('body[data-loaded]');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ringwire.admin_token')), server.adminToken);
  assert.ok(!page.url().includes(server.adminToken), 'the token is never in the URL');

  // Every figure on the page is the endpoint's.
  const shown = await page.evaluate(() => window.ringwireAdmin.report);
  const report = await adminGet(
    `/v1/admin/analytics?from=${shown.from_ms}&to=${shown.to_ms}&bucket_ms=${shown.bucket_ms}`,
  );
  assert.deepEqual(shown, report);
  const figures = await page.$$eval('[data-figure]', (nodes) =>
    nodes.map((n) => ({ path: n.dataset.figure, value: n.dataset.value, text: n.textContent })),
  );
  assert.ok(figures.length > 60, `${figures.length} figures on the page`);
  for (const f of figures) {
    const expected = at(report, f.path);
    assert.notEqual(expected, undefined, `${f.path} is in the report`);
    assert.equal(f.value, JSON.stringify(expected), f.path);
    if (expected === null) assert.equal(f.text, '–', `${f.path} shows an unknown as unknown`);
    else assert.notEqual(f.text, '–', f.path);
  }
  const paths = new Set(figures.map((f) => f.path));
  for (const p of ['total.calls', 'platforms.ios.lock_screen_answers.rate', 'platforms.web.lock_screen_answers.rate',
    'platforms.android.push_delivery_ms.p50', 'total.poor_share', 'total.ended.connection_lost']) {
    assert.ok(paths.has(p), `the page shows ${p}`);
  }

  // And the figures are the ones these calls make.
  const total = report.total;
  assert.equal(total.calls, 4);
  assert.equal(total.timelines, 8);
  assert.deepEqual(total.lock_screen_answers, { attempted: 1, succeeded: 1, rate: 1 });
  assert.equal(total.push_delivery_ms.samples, 2);
  assert.equal(total.time_to_report_ms.samples, 2);
  assert.ok(total.time_to_report_ms.p50 >= 40, JSON.stringify(total.time_to_report_ms));
  assert.equal(total.accept_to_first_audio_ms.samples, 2);
  assert.ok(total.poor_share > 0.2 && total.poor_share < 0.8, `poor share ${total.poor_share}`);
  assert.equal(report.platforms.web.lock_screen_answers.rate, null, 'no lock-screen answers on the web: unknown');
  assert.equal(report.platforms.android.accept_to_first_audio_ms.p50, null);
  assert.equal(await page.textContent('[data-figure="platforms.web.lock_screen_answers.rate"]'), '–');
  assert.equal(await page.textContent('[data-figure="total.lock_screen_answers.rate"]'), '100.0%');
  assert.equal(report.series.reduce((n, b) => n + b.total.timelines, 0), 8, 'the buckets hold every timeline');
  assert.equal(await page.locator('figure.chart').count(), 6);
  assert.ok((await page.locator('figure[data-chart="poor_share"] circle').count()) >= 1);

  // The recent calls, newest first, with their outcome and uploads.
  const rows = await page.$$eval('#calls tbody tr', (trs) =>
    trs.map((tr) => ({ id: tr.dataset.callId, cells: [...tr.cells].map((c) => c.textContent) })),
  );
  assert.deepEqual(rows.map((r) => r.id), [calls.poor, calls.missed, calls.declined, calls.lock]);
  assert.match(rows[1].cells[3], /no answer/);
  assert.match(rows[2].cells[3], /declined/);
  assert.match(rows[3].cells[3], /answered/);
  assert.match(rows[3].cells[5], /ios/);
  assert.match(rows[3].cells[5], /android/);
  await shot(page, 'admin-dashboard-viewport');
  await page.screenshot({ path: join(artifacts, 'admin-dashboard.png'), fullPage: true });

  // The lock-screen call from both devices: the server's row and one per device.
  await page.click(`#calls tr[data-call-id="${calls.lock}"] button`);
  await page.waitForSelector(`body[data-call="${calls.lock}"]`);
  await page.waitForSelector('#call:not([hidden])');
  assert.equal(await page.locator('svg.gantt g.row').count(), 3);
  const lockMarks = await page.locator('svg.gantt g.row:nth-of-type(n+2) path.mark').count();
  assert.equal(lockMarks, lock.inc.events.length + lock.out.events.length);
  assert.ok((await page.locator('svg.gantt rect.v-fair').count()) >= 1, 'the fair stretch is drawn');
  assert.ok((await page.locator('svg.gantt rect.bar-ring').count()) >= 2);
  assert.equal(await page.locator('#events tr[data-kind="answered"]').count(), 1);
  assert.match(await page.textContent('#events'), /from the lock screen/);
  await shot(page, 'admin-call-lock-screen');

  // Back, then the poor call (through its address, as a bookmark would).
  await page.click('#call-close');
  await page.waitForSelector('#dashboard:not([hidden])');
  await page.goto(`${server.url}/admin/#call=${calls.poor}`);
  await page.waitForSelector(`body[data-call="${calls.poor}"]`);
  assert.ok((await page.locator('svg.gantt rect.v-poor').count()) >= 2, 'poor stretches on both devices');
  await shot(page, 'admin-call-poor-quality');

  // Signing out forgets the token; the data needs it again.
  await page.click('#call-close');
  await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ringwire.admin_token')), null);
  const refused = await fetch(`${server.url}/v1/admin/analytics`);
  assert.equal(refused.status, 401);

  assert.deepEqual(problems, [], 'no errors in the page (and no CSP violations)');
});
