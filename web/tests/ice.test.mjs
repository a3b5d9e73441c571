// The browser client takes its ICE servers from the server (protocol.md 6.1): `ringwire serve`
// with an `[ice]` configuration hands each page RTCIceServer entries, TURN with coturn REST
// credentials, in `welcome`, and the page's RTCPeerConnections are built with exactly those.
// That coturn accepts the credentials is proven by crates/server/tests/coturn.rs with
// turnutils_uclient: headless Chromium here sent no TURN request at all to a coturn on this
// machine (on 127.0.0.1 or on the machine's own address), so no relay candidate is expected.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callFacts, Cleanup, launchBrowser, openPhone, startServer, waitFor, waitScreen } from './harness.mjs';

const cleanup = new Cleanup();
let server;
let browser;
let browser2;

before(async () => {
  server = await startServer({
    env: {
      RINGWIRE_ICE_SERVERS: 'stun:127.0.0.1:3478,turn:127.0.0.1:3478?transport=udp,turn:127.0.0.1:3478?transport=tcp',
      RINGWIRE_ICE_TURN_SECRET: 'browser-test-turn-secret-0123456789',
    },
  });
  cleanup.add(() => server.stop());
  browser = await launchBrowser({ toneHz: 440 });
  browser2 = await launchBrowser({ toneHz: 550 });
  cleanup.add(() => browser.close());
  cleanup.add(() => browser2.close());
});

after(() => cleanup.run());

/** The ICE servers the page keeps, and those its call's connection was built with. */
function iceFacts(page) {
  return page.evaluate(() => {
    const phone = window.ringwire.phone;
    const pc = phone?.current?.mediaPeer?.pc;
    return { kept: phone?.iceServers ?? null, used: pc ? pc.getConfiguration().iceServers : null };
  });
}

test('the page uses the ICE servers and TURN credentials from welcome', async () => {
  await server.addUser('alice');
  await server.addUser('bob');
  const a = await server.addDevice('alice', 'browser');
  const b = await server.addDevice('bob', 'browser');
  const alice = await openPhone(browser, server, a.token, 'alice');
  const bob = await openPhone(browser2, server, b.token, 'bob');
  try {
    const { kept } = await waitFor('alice to have ICE servers', async () => {
      const f = await iceFacts(alice);
      return f.kept?.length ? f : null;
    });
    assert.equal(kept.length, 2, JSON.stringify(kept));
    assert.deepEqual(kept[0], { urls: ['stun:127.0.0.1:3478'] });
    assert.deepEqual(kept[1].urls, ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp']);
    const [expiry, device] = kept[1].username.split(':');
    assert.equal(device, a.deviceId);
    const left = Number(expiry) - Date.now() / 1000;
    assert.ok(left > 3500 && left <= 3601, `credentials valid for the default hour (${left} s left)`);
    assert.match(kept[1].credential, /^[A-Za-z0-9+/]{27}=$/, 'base64 of a 20-byte HMAC-SHA1');

    // The call works with them (host candidates on loopback carry it) and both connections were
    // built with the servers from welcome.
    await alice.fill('#callee', 'bob');
    await alice.click('#call-button');
    await waitScreen(bob, 'incoming');
    await bob.click('#accept-button');
    await waitFor('alice active', async () => (await callFacts(alice))?.phase === 'active');
    // Chromium reports an absent username or credential as ''.
    const shape = (s) => [s.urls, s.username || '', s.credential || ''];
    for (const [page, name] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ]) {
      const { kept: own, used } = await iceFacts(page);
      assert.deepEqual(used.map(shape), own.map(shape), `${name}'s connection uses the servers from welcome`);
    }
  } finally {
    await alice.context().close();
    await bob.context().close();
  }
});
