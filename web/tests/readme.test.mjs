// The README's own commands, run as a new user would: read from README.md (never copied here),
// run verbatim in a fresh copy of the tree, with CMAKE pointing at a program that fails so a
// cmake dependency cannot come back unnoticed. `serve` must answer /healthz, serve the browser
// client (opened in Chromium) and stop cleanly on SIGTERM; `demo` must pass every check.
//
// The copy shares this checkout's target/ (CARGO_TARGET_DIR) so the release build is paid once
// per machine, not per run; the workspace's own crates still rebuild from the copy's sources,
// libopus included, so the no-cmake check is real. scripts/test makes the copy early
// (RINGWIRE_README_TREE) and runs that build in the background meanwhile, with the same CMAKE;
// run alone, this file makes its own copy and the README command builds it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, launchBrowser, repoRoot, sleep } from './harness.mjs';
import { makeReadmeTree } from './readme-tree.mjs';

/** Resolves to `null` after `ms`, without keeping the process alive once the test is done. */
function timeout(ms) {
  return new Promise((ok) => setTimeout(() => ok(null), ms).unref());
}

/** A cold release build on 2 cores takes minutes; a warm one seconds. */
const BUILD_MS = 30 * 60_000;

/** The first `cargo run …` line of the fenced block under `## heading`, comment stripped. */
function readmeCommand(heading) {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has no "## ${heading}" section`);
  const section = readme.slice(start + 1).split(/\n## /)[0];
  const block = section.match(/```(?:sh|bash)?\n([\s\S]*?)```/);
  assert.ok(block, `README.md's "${heading}" section has no code block`);
  const line = block[1].split('\n').find((l) => l.trim().startsWith('cargo run'));
  assert.ok(line, `README.md's "${heading}" block has no cargo run command`);
  return line.replace(/\s+#.*$/, '').trim();
}

function portInUse(port) {
  return new Promise((ok) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.on('connect', () => {
      socket.destroy();
      ok(true);
    });
    socket.on('error', () => ok(false));
  });
}

let tree;
let env;

before(() => {
  // scripts/test makes the copy early and builds it in the background (readme-tree.mjs).
  const prepared = process.env.RINGWIRE_README_TREE;
  tree = prepared ?? makeReadmeTree().tree;
  const noCmake = join(tree, 'no-cmake');
  assert.ok(existsSync(noCmake), `${tree} is not a copy made by readme-tree.mjs`);
  env = {
    ...process.env,
    CMAKE: noCmake,
    CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'),
  };
  delete env.RUST_LOG;
  delete env.RINGWIRE_ADMIN_TOKEN;
});

after(() => rmSync(tree, { recursive: true, force: true }));

/** Runs `command` with bash in the copy; output goes to a log file under web/test-results. */
function run(command, logName) {
  const log = join(artifacts, logName);
  const fd = openSync(log, 'w');
  const child = spawn('bash', ['-c', command], { cwd: tree, env, stdio: ['ignore', fd, fd], detached: true });
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  return { child, exited, log: () => readFileSync(log, 'utf8') };
}

test("the README's run command serves the browser client and stops on SIGTERM", { timeout: BUILD_MS + 120_000 }, async () => {
  const command = readmeCommand('Two commands');
  assert.match(command, /serve/, `the README's first command should run the server: ${command}`);
  assert.equal(await portInUse(8080), false, 'port 8080 is taken; the README command listens there');
  const server = run(command, 'readme-serve.log');
  let exit = null;
  server.exited.then((e) => (exit = e));
  try {
    const deadline = Date.now() + BUILD_MS;
    for (;;) {
      if (exit) assert.fail(`"${command}" exited (${JSON.stringify(exit)}):\n${server.log().slice(-3000)}`);
      if (Date.now() > deadline) assert.fail(`"${command}" did not answer /healthz in ${BUILD_MS} ms`);
      const up = await fetch('http://127.0.0.1:8080/healthz').then((r) => r.ok, () => false);
      if (up) break;
      await sleep(500);
    }
    const log = server.log();
    assert.match(log, /browser client: http:\/\/127\.0\.0\.1:8080\//, 'first run names the browser client URL');
    assert.match(log, /no users yet/, 'first run says there are no users yet');
    assert.match(log, /ringwire user add/, 'first run gives the command that adds a user');
    assert.match(log, /ringwire device add/, 'first run gives the command that adds a device');
    assert.match(log, /data: SQLite in .*ringwire-data/, 'first run says where the data lives');
    assert.match(log, /admin API/, 'first run says how to reach the admin API');
    assert.doesNotMatch(log, /\x1b\[/, 'no colour codes when stderr is not a terminal');

    const browser = await launchBrowser({ toneHz: 440 });
    try {
      const page = await browser.newPage();
      await page.goto('http://127.0.0.1:8080/');
      await page.waitForSelector('#app[data-screen="signin"]', { timeout: 15_000 });
      await page.screenshot({ path: join(artifacts, 'readme-serve.png') });
    } finally {
      await browser.close();
    }

    process.kill(-server.child.pid, 'SIGTERM');
    const stopped = await Promise.race([server.exited, timeout(10_000)]);
    assert.ok(stopped, 'the server did not stop within 10 s of SIGTERM');
    assert.equal(stopped.code, 0, `exit after SIGTERM: ${JSON.stringify(stopped)}\n${server.log().slice(-2000)}`);
    assert.ok(existsSync(join(tree, 'ringwire-data')), 'the data directory is ./ringwire-data');
  } finally {
    if (!exit) {
      try {
        process.kill(-server.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

test("the README's demo command passes every check", { timeout: BUILD_MS + 300_000 }, async () => {
  const command = readmeCommand('See a call');
  assert.match(command, /demo/, `the README's "See a call" command should run the demo: ${command}`);
  const demo = run(command, 'readme-demo.log');
  const done = await Promise.race([demo.exited, timeout(BUILD_MS + 240_000)]);
  if (!done) process.kill(-demo.child.pid, 'SIGKILL');
  assert.ok(done, `"${command}" did not finish`);
  const out = demo.log();
  assert.equal(done.code, 0, `"${command}" failed (${JSON.stringify(done)}):\n${out.slice(-3000)}`);
  assert.match(out, /every check passed/, out.slice(-3000));
});
