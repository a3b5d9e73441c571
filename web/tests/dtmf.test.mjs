// Key tones from the browser's keypad to the native engine as RFC 4733 telephone-events: the
// browser calls a native softphone, opens the in-call keypad, presses keys one at a time, and
// the native softphone's report lists the digits it decoded (`dtmf_received`), in order.

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

const BROWSER_HZ = 440;
const NATIVE_HZ = 660;
/** The keys pressed, by button id, and the digits the far end must report. */
const KEYS = ['dtmf-1', 'dtmf-2', 'dtmf-3', 'dtmf-hash'];
const DIGITS = '123#';

let server;
let browser;
const cleanup = new Cleanup();

before(async () => {
  server = await startServer();
  cleanup.add(() => server.stop());
  browser = await launchBrowser({ toneHz: BROWSER_HZ });
  cleanup.add(() => browser.close());
});

after(() => cleanup.run());

/** Whether the page's audio sender has no key tones left to play (the last one has started). */
async function tonesDrained(page) {
  return page.evaluate(() => {
    const pc = window.ringwire.phone?.current?.mediaPeer?.pc;
    const dtmf = pc?.getSenders().find((s) => s.dtmf)?.dtmf;
    return dtmf?.toneBuffer === '';
  });
}

test('browser keypad sends 123# to the native callee as telephone-events', async () => {
  await server.addUser('alice', 'Alice Liddell');
  await server.addUser('bob', 'Bob Builder');
  const aliceWeb = await server.addDevice('alice', 'browser');
  const bobNative = await server.addDevice('bob', 'phone');

  const native = nativePhone('answer', { server, token: bobNative.token, toneHz: NATIVE_HZ, acceptAfterMs: 1000 });
  const alice = await openPhone(browser, server, aliceWeb.token, 'alice');
  try {
    await waitFor('both devices connected', async () => (await server.connectedDevices()) >= 2);
    await alice.fill('#callee', 'bob');
    await alice.click('#call-button');
    await waitFor('alice in an active call', async () => (await callFacts(alice))?.phase === 'active');
    await waitScreen(alice, 'incall');

    await alice.click('#keypad-button');
    await alice.waitForSelector('#dtmf-1');
    assert.equal(await alice.getAttribute('#keypad-button', 'aria-expanded'), 'true');
    // The keys are enabled only if the native answer kept telephone-event.
    await waitFor('enabled keys', () => alice.isEnabled('#dtmf-1'), 5_000).catch(async (e) => {
      throw new Error(`keypad disabled: ${await alice.textContent('#dtmf-note')} (${e.message})`);
    });
    assert.equal(await alice.evaluate(() => window.ringwire.phone.current.sendDtmf('x')), false, 'not a key');

    for (const key of KEYS) {
      await alice.click(`#${key}`);
      // One key at a time, as a person types: its tone starts, plays 100 ms, then a 70 ms gap.
      await waitFor(`${key} playing`, () => tonesDrained(alice), 5_000);
      await sleep(400);
    }
    assert.equal(await alice.textContent('#dtmf-sent'), DIGITS);
    assert.equal(await alice.evaluate(() => window.ringwire.phone.current.dtmfSent), DIGITS);
    await shot(alice, 'dtmf-keypad');
    // The last event's end packets (sent three times) go out before the hangup.
    await sleep(500);

    await alice.click('#hangup-button');
    await waitScreen(alice, 'home');
    const report = await native.report;
    assert.equal(report.end_reason?.reason ?? JSON.stringify(report.end_reason), 'hangup');
    assert.equal(report.dtmf_received, DIGITS, 'the native callee decoded the keys in order');
  } finally {
    native.kill();
    await alice.context().close();
  }
});
