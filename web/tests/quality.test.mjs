// The browser client's quality verdicts in a real call with the native engine: a clean call
// says nothing, and a call whose network loses packets turns "Poor connection (network loss)"
// once the loss held, then good again once it is gone, with a short blip changing nothing. The
// loss is real: the page's media goes through a UDP relay that drops RTP (impair.mjs); the
// verdict is the page's own, from getStats() (web/src/quality.ts; its arithmetic is
// verdict.test.mjs's).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
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

let server;
let browser;
let round = 0;
const cleanup = new Cleanup();

before(async () => {
  server = await startServer();
  cleanup.add(() => server.stop());
  // Host addresses, not mDNS names, so the relay can stand in for them.
  browser = await launchBrowser({ toneHz: 440, mdns: false });
  cleanup.add(() => browser.close());
});

after(() => cleanup.run());

async function people() {
  round += 1;
  const me = `web${round}`;
  const far = `native${round}`;
  await server.addUser(me);
  await server.addUser(far);
  return { me, far, meDevice: await server.addDevice(me, 'browser'), farDevice: await server.addDevice(far, 'phone') };
}

/** What the call screen shows about quality. */
function verdictShown(page) {
  return page.evaluate(() => {
    const el = document.getElementById('verdict');
    return { hidden: el.hidden, text: el.textContent, verdict: el.dataset.verdict, cause: el.dataset.cause };
  });
}

/** The browser calls the native softphone and the call is answered. */
async function callNative(page, p, durationS) {
  const far = nativePhone('answer', { server, token: p.farDevice.token, toneHz: 660, durationS });
  await waitFor('native phone online', async () => (await server.connectedDevices()) >= 2);
  await page.fill('#callee', p.far);
  await page.click('#call-button');
  await waitScreen(page, 'incall');
  await waitFor('call active', async () => (await callFacts(page))?.phase === 'active', 20_000);
  return far;
}

test('a clean call says nothing about quality', async () => {
  const p = await people();
  const page = await openPhone(browser, server, p.meDevice.token, 'clean');
  const far = await callNative(page, p, 30);
  try {
    // Six windows of a clean loopback call.
    await sleep(13_000);
    const facts = await callFacts(page);
    assert.deepEqual(facts.verdictChanges, [], 'no verdict change');
    assert.equal(facts.verdict, 'good');
    assert.ok(facts.lastWindow, 'windows were judged');
    assert.equal(facts.lastWindow.verdict, 'good', JSON.stringify(facts.lastWindow));
    assert.ok(facts.lastWindow.figures.packets_received >= 80, JSON.stringify(facts.lastWindow));
    assert.ok(facts.lastWindow.figures.mos > 4, JSON.stringify(facts.lastWindow));
    assert.equal(facts.lastWindow.figures.missed_ticks_pct, 0);
    const shown = await verdictShown(page);
    assert.equal(shown.hidden, true, `nothing alarming on screen: ${shown.text}`);
    await page.click('#hangup-button');
    await waitScreen(page, 'home');
    const report = await far.report;
    assert.equal(report.end_reason?.reason, 'hangup');
  } finally {
    far.kill();
    await page.context().close();
  }
});

test('packet loss turns the call poor (network loss) once it held, and good after it is gone', async () => {
  const p = await people();
  const relay = startRelay({ seed: 7 });
  cleanup.add(() => relay.close());
  const page = await openPhone(browser, server, p.meDevice.token, 'lossy', {
    prepare: (context) => putBehindRelay(context, relay),
  });
  const far = await callNative(page, p, 90);
  try {
    const facts = () => callFacts(page);
    await sleep(4000);
    // A 2 s blip of heavy loss: at most two windows see it, nothing is announced.
    relay.set({ toPage: 0.3 });
    await sleep(2000);
    relay.set({ toPage: 0 });
    await sleep(7000);
    assert.deepEqual((await facts()).verdictChanges, [], 'a 2 s blip does not flap the verdict');
    assert.ok(relay.counts().page.dropped > 10, `the blip dropped RTP: ${JSON.stringify(relay.counts())}`);
    assert.equal((await verdictShown(page)).hidden, true);

    // 20 % of the native side's RTP lost, until the verdict says so.
    const degradedAt = Date.now();
    relay.set({ toPage: 0.2 });
    await waitFor('a poor verdict', async () => (await facts()).verdict === 'poor', 20_000, 250);
    const poorAfter = Date.now() - degradedAt;
    const poor = (await facts()).verdictChanges.at(-1);
    assert.equal(poor.cause, 'network_loss', JSON.stringify(poor));
    assert.ok(poor.figures.loss_pct >= 10, JSON.stringify(poor.figures));
    // Three windows must agree: never sooner than two whole ones after the loss began.
    assert.ok(poorAfter >= 4000, `announced ${poorAfter} ms after the loss began`);
    const shown = await verdictShown(page);
    assert.equal(shown.hidden, false);
    assert.equal(shown.text, 'Poor connection (network loss)');
    assert.deepEqual([shown.verdict, shown.cause], ['poor', 'network_loss']);
    await shot(page, 'quality-poor-network-loss');

    // The loss ends; four good windows later the call is good again and the screen says nothing.
    const recoveredAt = Date.now();
    relay.set({ toPage: 0 });
    // The native sender still puts DRED into its packets for seconds after the loss (its loss
    // estimate decays slowly): Chromium, which does not decode DRED, must still decode every
    // one of those packets cleanly. A window that starts 2.5 s after the loss ended holds
    // only such packets.
    await sleep(4500);
    const dredWindow = (await facts()).lastWindow;
    assert.equal(dredWindow.figures.loss_pct, 0, JSON.stringify(dredWindow.figures));
    assert.ok(dredWindow.figures.concealment_ratio < 0.01, JSON.stringify(dredWindow.figures));
    await waitFor('a good verdict', async () => (await facts()).verdict === 'good', 20_000, 250);
    const goodAfter = Date.now() - recoveredAt;
    assert.ok(goodAfter >= 6000, `good ${goodAfter} ms after the loss ended`);
    const end = await facts();
    assert.deepEqual(
      end.verdictChanges.map((c) => [c.verdict, c.cause]),
      [
        ['poor', 'network_loss'],
        ['good', null],
      ],
    );
    assert.equal((await verdictShown(page)).hidden, true);
    console.log(
      `poor after ${poorAfter} ms of loss, good ${goodAfter} ms after it ended; relay: ${JSON.stringify(relay.counts())}`,
    );
    await page.click('#hangup-button');
    await waitScreen(page, 'home');
    const report = await far.report;
    // The native side sent DRED while its packets were lost, and Chromium played them.
    assert.ok(report.frames.sent_with_dred > 100, JSON.stringify(report.frames));
    assert.equal(report.end_reason?.reason, 'hangup');

    // The page's call timeline (web/src/timeline.ts) carries the same verdict changes, null
    // fields left out, before the end.
    const timeline = await waitFor('the page\'s stored timeline', async () => {
      const response = await fetch(`${server.url}/v1/admin/calls/${end.id}/timelines`, {
        headers: { Authorization: `Bearer ${server.adminToken}` },
      });
      return response.ok ? (await response.json()).timelines.find((t) => t.platform === 'web') : null;
    });
    assert.deepEqual(
      timeline.events.filter((e) => e.kind === 'quality').map(({ at_ms, ...rest }) => rest),
      [
        { kind: 'quality', verdict: 'poor', cause: 'network_loss' },
        { kind: 'quality', verdict: 'good' },
      ],
    );
    assert.equal(timeline.events.at(-1).kind, 'ended');
  } finally {
    far.kill();
    await page.context().close();
  }
});
