// web/bridge's native transports, driven the way the iOS and Android shells drive them: the
// page finds `window.webkit.messageHandlers.ringwire` (WKWebView) or `window.RingwireAndroid`
// (an Android `@JavascriptInterface` object), posts JSON strings to it, and native code answers
// by calling `window.ringwireBridge.receive(json)`. Here the "native code" is an init script
// that carries those strings to `ringwire bridge-host`'s bridge socket and back, standing in for
// the few lines of Swift or Kotlin a shell needs. The hybrid page must pick that transport (not
// its WebSocket fallback) and drive a real call through it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cleanup, launchBrowser, nativePhone, startBridgeHost, startServer, waitFor } from './harness.mjs';

let server;
let browser;
const cleanup = new Cleanup();

before(async () => {
  server = await startServer();
  cleanup.add(() => server.stop());
  browser = await launchBrowser({ toneHz: 440 });
  cleanup.add(() => browser.close());
});

after(() => cleanup.run());

/** The shell's side: a message handler object of the platform's shape, relaying to the host. */
function shellShim(kind, bridgeUrl) {
  // Runs in the page before its scripts.
  return ({ kind, bridgeUrl }) => {
    const ws = new WebSocket(bridgeUrl);
    const queue = [];
    window.__shellPosts = 0;
    ws.onopen = () => queue.splice(0).forEach((t) => ws.send(t));
    ws.onmessage = (e) => window.ringwireBridge?.receive(e.data);
    const post = (text) => {
      window.__shellPosts += 1;
      if (typeof text !== 'string') throw new Error('the bridge posts strings');
      if (ws.readyState === 1) ws.send(text);
      else queue.push(text);
    };
    if (kind === 'ios') window.webkit = { messageHandlers: { ringwire: { postMessage: post } } };
    else window.RingwireAndroid = { postMessage: post };
  };
}

for (const kind of ['ios', 'android']) {
  test(`the hybrid page drives a call over the ${kind} transport`, async () => {
    const me = `shell${kind}`;
    const far = `peer${kind}`;
    await server.addUser(me);
    await server.addUser(far);
    const meDevice = await server.addDevice(me, kind);
    const farDevice = await server.addDevice(far, 'phone');
    const host = await startBridgeHost({ server, token: meDevice.token, toneHz: 440 });
    const farPhone = nativePhone('answer', { server, token: farDevice.token, toneHz: 660, durationS: 2 });
    const context = await browser.newContext();
    try {
      const bridgeUrl = `${host.url.replace('http:', 'ws:')}/bridge`;
      await context.addInitScript(shellShim(kind, bridgeUrl), { kind, bridgeUrl });
      // Any use of the WebSocket fallback would be a bug in transport detection.
      await context.addInitScript(() => {
        const Native = window.WebSocket;
        window.__fallbackSockets = 0;
        window.WebSocket = class extends Native {
          constructor(url, ...rest) {
            super(url, ...rest);
            if (String(url).endsWith('/bridge')) window.__fallbackSockets += 1;
          }
        };
      });
      const page = await context.newPage();
      await page.goto(host.url);
      await page.waitForSelector('#status.online');
      await waitFor('far end online', async () => (await server.connectedDevices()) >= 2);
      await page.fill('#callee', far);
      await page.click('#call-button');
      await page.waitForSelector('#app[data-screen="incall"]', { timeout: 15_000 });
      const report = await farPhone.report;
      assert.equal(report.end_reason?.reason, 'hangup');
      await page.waitForSelector('#last-call:has-text("hangup")');
      const posts = await page.evaluate(() => window.__shellPosts);
      assert.ok(posts >= 2, `the page posted ${posts} commands through the ${kind} handler`);
      // The shim opened its socket before the counter existed; the page must open none.
      const fallback = await page.evaluate(() => window.__fallbackSockets);
      assert.equal(fallback, 0, 'the page used the native transport, not the WebSocket fallback');
    } finally {
      farPhone.kill();
      await context.close();
      await host.stop();
    }
  });
}
