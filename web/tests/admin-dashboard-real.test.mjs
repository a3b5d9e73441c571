// The operator's dashboard (/admin/) with calls made only by real clients: the browser client
// (web/src, platform "web") and the native engine's softphones (`ringwire call` / `ringwire
// answer`, platform "native"). No test code writes a timeline: each client uploads its own when
// its call ends. Four calls: answered and hung up, declined, missed (the ring timeout passes),
// and one whose browser sits behind a lossy UDP relay (impair.mjs) so its verdict turns poor.
// The dashboard is then opened in Chromium, signed in with the admin token, and checked against
// `GET /v1/admin/analytics`; screenshots are saved as web/test-results/admin-real-*.png.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  artifacts,
  callFacts,
  Cleanup,
  launchBrowser,
  nativePhone,
  openPhone,
  shot,
  sleep,
  startServer,
  waitFor,
  waitScreen,
} from './harness.mjs';
import { putBehindRelay, startRelay } from './impair.mjs';

const cleanup = new Cleanup();
let server;
let browser;

before(async () => {
  // A short ring timeout, so the missed call is missed in seconds (as admin-dashboard.test.mjs).
  server = await startServer({ env: { RINGWIRE_RING_TIMEOUT_SECS: '3' } });
  cleanup.add(() => server.stop());
  // Host addresses, not mDNS names, so the relay can stand in for them (quality.test.mjs).
  browser = await launchBrowser({ toneHz: 440, mdns: false });
  cleanup.add(() => browser.close());
});

after(() => cleanup.run());

/** The value at a dotted path of the report (`platforms.web.poor_share`). */
function at(report, path) {
  return path.split('.').reduce((v, key) => (v === undefined || v === null ? undefined : v[key]), report);
}

async function adminGet(path) {
  const response = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${server.adminToken}` } });
  assert.equal(response.status, 200, path);
  return response.json();
}

/** Every device's timeline of `callId`, once `count` of them are stored. */
function storedTimelines(callId, count = 2) {
  return waitFor(`${count} stored timelines of ${callId}`, async () => {
    const { timelines } = await adminGet(`/v1/admin/calls/${callId}/timelines`);
    return timelines.length >= count ? timelines : null;
  }, 30_000, 250);
}

const online = (n) => waitFor(`${n} devices online`, async () => (await server.connectedDevices()) >= n);

test('the dashboard shows calls that only real clients made and reported', async () => {
  await server.addUser('alice', 'Alice');
  await server.addUser('bob', 'Bob');
  const aliceWeb = await server.addDevice('alice', 'browser');
  const aliceLossy = await server.addDevice('alice', 'browser behind a lossy network');
  const bobNative = await server.addDevice('bob', 'softphone');
  const calls = {};
  const ended = (t) => t.events.at(-1);

  // (a) Alice's browser calls Bob's native softphone; he answers, she hangs up a few seconds in.
  let alice = await openPhone(browser, server, aliceWeb.token, 'alice');
  {
    const native = nativePhone('answer', { server, token: bobNative.token, toneHz: 660, acceptAfterMs: 1000 });
    try {
      await online(2);
      await alice.fill('#callee', 'bob');
      await alice.click('#call-button');
      await waitFor('alice in an active call', async () => (await callFacts(alice))?.phase === 'active', 20_000);
      calls.answered = (await callFacts(alice)).id;
      await sleep(4000);
      await alice.click('#hangup-button');
      await waitScreen(alice, 'home');
      const report = await native.report;
      assert.equal(report.end_reason?.reason, 'hangup', JSON.stringify(report.end_reason));
    } finally {
      native.kill();
    }
    const timelines = await storedTimelines(calls.answered);
    assert.deepEqual(timelines.map((t) => t.platform).sort(), ['native', 'web']);
    for (const t of timelines) assert.equal(ended(t).reason, 'hangup');
  }

  // (b) Bob's softphone calls Alice's browser; she declines.
  {
    const native = nativePhone('call', { server, token: bobNative.token, to: 'alice', toneHz: 660 });
    try {
      await waitScreen(alice, 'incoming');
      calls.declined = (await callFacts(alice)).id;
      await sleep(800);
      await alice.click('#decline-button');
      await waitScreen(alice, 'home');
      const report = await native.report;
      assert.equal(report.end_reason?.reason, 'declined', JSON.stringify(report.end_reason));
    } finally {
      native.kill();
    }
    const timelines = await storedTimelines(calls.declined);
    assert.deepEqual(timelines.map((t) => t.platform).sort(), ['native', 'web']);
    for (const t of timelines) assert.equal(ended(t).reason, 'declined', JSON.stringify(ended(t)));
  }

  // (c) Bob's softphone calls Alice's browser; nobody answers before the ring timeout (3 s).
  {
    const native = nativePhone('call', { server, token: bobNative.token, to: 'alice', toneHz: 660 });
    try {
      await waitScreen(alice, 'incoming');
      calls.missed = (await callFacts(alice)).id;
      await waitScreen(alice, 'home', 20_000);
      const report = await native.report;
      assert.equal(report.end_reason?.reason, 'no_answer', JSON.stringify(report.end_reason));
    } finally {
      native.kill();
    }
    const timelines = await storedTimelines(calls.missed);
    assert.deepEqual(timelines.map((t) => t.platform).sort(), ['native', 'web']);
    for (const t of timelines) assert.equal(ended(t).reason, 'no_answer', JSON.stringify(ended(t)));
  }
  await alice.context().close();

  // (d) Alice's browser, behind a relay that loses 20 % of the RTP towards it, calls Bob's
  //     softphone; the browser's verdict turns poor; she hangs up ~12 s into the loss.
  {
    const relay = startRelay({ seed: 7 });
    cleanup.add(() => relay.close());
    alice = await openPhone(browser, server, aliceLossy.token, 'alice-lossy', {
      prepare: (context) => putBehindRelay(context, relay),
    });
    const native = nativePhone('answer', { server, token: bobNative.token, toneHz: 660 });
    try {
      await online(2);
      await alice.fill('#callee', 'bob');
      await alice.click('#call-button');
      await waitFor('alice in an active call', async () => (await callFacts(alice))?.phase === 'active', 20_000);
      calls.lossy = (await callFacts(alice)).id;
      await sleep(2000);
      const lossFrom = Date.now();
      relay.set({ toPage: 0.2 });
      await waitFor('a poor verdict', async () => (await callFacts(alice)).verdict === 'poor', 20_000, 250);
      await sleep(Math.max(0, 12_000 - (Date.now() - lossFrom)));
      assert.equal((await callFacts(alice)).verdict, 'poor');
      assert.ok(relay.counts().page.dropped > 50, JSON.stringify(relay.counts()));
      await shot(alice, 'admin-real-lossy-call');
      await alice.click('#hangup-button');
      await waitScreen(alice, 'home');
      const report = await native.report;
      assert.equal(report.end_reason?.reason, 'hangup', JSON.stringify(report.end_reason));
    } finally {
      native.kill();
      relay.set({ toPage: 0 });
    }
    const timelines = await storedTimelines(calls.lossy);
    assert.deepEqual(timelines.map((t) => t.platform).sort(), ['native', 'web']);
    const web = timelines.find((t) => t.platform === 'web');
    assert.ok(
      web.events.some((e) => e.kind === 'quality' && e.verdict === 'poor' && e.cause === 'network_loss'),
      JSON.stringify(web.events),
    );
    await alice.context().close();
  }

  // The dashboard: signed in with the admin token.
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  cleanup.add(() => context.close());
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${server.url}/admin/`);
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#admin-token', server.adminToken);
  await page.click('#signin-form button[type="submit"]');
  await page.waitForSelector('#dashboard:not([hidden])');
  await page.waitForSelector('body[data-loaded]');

  // Every figure on the page is the endpoint's, for the page's range.
  const shown = await page.evaluate(() => window.ringwireAdmin.report);
  const report = await adminGet(`/v1/admin/analytics?from=${shown.from_ms}&to=${shown.to_ms}&bucket_ms=${shown.bucket_ms}`);
  assert.deepEqual(shown, report);
  const figures = await page.$$eval('[data-figure]', (nodes) =>
    nodes.map((n) => ({ path: n.dataset.figure, value: n.dataset.value, text: n.textContent })),
  );
  assert.ok(figures.length > 20, `${figures.length} figures on the page`);
  for (const f of figures) {
    const expected = at(report, f.path);
    assert.notEqual(expected, undefined, `${f.path} is in the report`);
    assert.equal(f.value, JSON.stringify(expected), f.path);
    if (expected === null) assert.equal(f.text, '–', `${f.path} shows an unknown as unknown`);
    else assert.notEqual(f.text, '–', f.path);
  }
  // And the report counts these calls: four calls, two timelines each, some of them poor.
  assert.equal(report.total.calls, 4, JSON.stringify(report.total));
  assert.equal(report.total.timelines, 8, JSON.stringify(report.total));
  assert.ok(report.total.poor_share > 0, `poor share ${report.total.poor_share}`);
  assert.ok(report.platforms.web, 'the web platform is reported');
  assert.ok(report.platforms.native, 'the native platform is reported');

  // The recent calls, newest first.
  const rows = await page.$$eval('#calls tbody tr', (trs) =>
    trs.map((tr) => ({ id: tr.dataset.callId, cells: [...tr.cells].map((c) => c.textContent) })),
  );
  assert.deepEqual(rows.map((r) => r.id), [calls.lossy, calls.missed, calls.declined, calls.answered]);
  assert.match(rows[0].cells[3], /answered/);
  assert.match(rows[1].cells[3], /no answer/);
  assert.match(rows[2].cells[3], /declined/);
  assert.match(rows[3].cells[3], /answered/);
  for (const r of rows) {
    assert.match(r.cells[5], /web/, JSON.stringify(r.cells));
    assert.match(r.cells[5], /native/, JSON.stringify(r.cells));
  }
  await shot(page, 'admin-real-dashboard-viewport');
  await page.screenshot({ path: join(artifacts, 'admin-real-dashboard.png'), fullPage: true });

  // The lossy call's drill-down: the server's row and both devices', a poor stretch drawn.
  await page.click(`#calls tr[data-call-id="${calls.lossy}"] button`);
  await page.waitForSelector(`body[data-call="${calls.lossy}"]`);
  await page.waitForSelector('#call:not([hidden])');
  assert.equal(await page.locator('svg.gantt g.row').count(), 3);
  assert.ok((await page.locator('svg.gantt rect.v-poor').count()) >= 1, 'the poor stretch is drawn');
  assert.match(await page.textContent('#events'), /poor/);
  await shot(page, 'admin-real-call-lossy');

  assert.deepEqual(problems, [], 'no errors in the dashboard page');
});
