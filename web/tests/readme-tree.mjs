// The fresh copy of the tree that the README's commands run in (readme.test.mjs): the tracked
// files, and new files git does not ignore — what a clone would hold — plus `no-cmake`, a
// program that fails, for CMAKE to point at so a cmake dependency cannot come back unnoticed.
//
// Run as a script (`node web/tests/readme-tree.mjs`), it makes the copy and prints its path:
// scripts/test does that early and starts the copy's release build in the background while
// the Rust tests run, so the README check that comes last does not wait for the compile. The
// README command still runs verbatim in that copy; the build it finds there was made from the
// same sources, with the same CMAKE and target directory.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');

/** Copies the checkout into a new temporary directory; returns `{ tree, noCmake }`. */
export function makeReadmeTree() {
  const tree = mkdtempSync(join(tmpdir(), 'ringwire-readme-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
    maxBuffer: 64 << 20,
  })
    .toString()
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    const from = join(repoRoot, file);
    if (!existsSync(from)) continue; // deleted in the work tree, not yet committed
    mkdirSync(dirname(join(tree, file)), { recursive: true });
    copyFileSync(from, join(tree, file));
  }
  const noCmake = join(tree, 'no-cmake');
  writeFileSync(noCmake, '#!/bin/sh\necho "error: the README command ran cmake ($*)" >&2\nexit 1\n');
  chmodSync(noCmake, 0o755);
  return { tree, noCmake };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(makeReadmeTree().tree);
}
