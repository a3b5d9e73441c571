//! /proc accounting of one Chromium instance's process tree: the browser process (found by the
//! unique --user-data-dir on its command line) and all its descendants via ppid links (zygotes,
//! renderers, GPU, network/audio/storage utility processes). CPU is Δ(utime+stime) over a window;
//! memory is Pss and Rss summed from /proc/PID/smaps_rollup.
//!
//! Quirk: Chromium's zygote-forked children rewrite their command line (one space-joined string,
//! not NUL-separated), so the browser is matched on its own argv only and children by ppid.
//! Processes that start inside a window are counted from zero ticks (all their CPU time falls in
//! the window); processes that exit inside it lose their ticks since the window began (their
//! time moves to the parent's cutime, which is not read) — both counts are reported.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function readStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15.
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** All processes: pid → {ppid, ticks}. */
function snapshot() {
  const procs = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      procs.set(Number(entry), readStat(entry));
    } catch {
      // exited while listing
    }
  }
  return procs;
}

/** The pid of the browser process launched with `--user-data-dir=<dir>`. */
export function browserPid(userDataDir) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(`--user-data-dir=${userDataDir}`) && !argv.some((a) => a.startsWith('--type='))) {
        found.push(Number(entry));
      }
    } catch {
      // gone
    }
  }
  if (found.length !== 1) throw new Error(`expected one browser process for ${userDataDir}, found ${found.length}`);
  return found[0];
}

/** root and its descendants in `procs`. */
function tree(procs, root) {
  const children = new Map();
  for (const [pid, p] of procs) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const out = [];
  const stack = procs.has(root) ? [root] : [];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

function memory(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key) => {
    const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { pss: kb('Pss'), rss: kb('Rss') };
}

/** Starts a measurement window over root's tree; `end()` closes it and returns the figures. */
export function startWindow(root) {
  const t0 = process.hrtime.bigint();
  const procs0 = snapshot();
  const pids0 = tree(procs0, root);
  if (pids0.length === 0) throw new Error(`process ${root} is not running`);
  const ticks0 = new Map(pids0.map((pid) => [pid, procs0.get(pid).ticks]));
  return {
    end() {
      const procs1 = snapshot();
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      const pids1 = tree(procs1, root);
      let ticks = 0;
      let appeared = 0;
      for (const pid of pids1) {
        const before = ticks0.get(pid);
        if (before === undefined) appeared += 1;
        ticks += procs1.get(pid).ticks - (before ?? 0);
      }
      const vanished = pids0.filter((pid) => !procs1.has(pid) || !pids1.includes(pid)).length;
      let pss = 0;
      let rss = 0;
      let memProcesses = 0;
      for (const pid of pids1) {
        try {
          const m = memory(pid);
          pss += m.pss;
          rss += m.rss;
          memProcesses += 1;
        } catch {
          // exited after the CPU sample
        }
      }
      return {
        cpu_percent: (100 * ticks) / (CLK_TCK * wallS),
        pss_bytes: pss,
        rss_bytes: rss,
        processes: pids1.length,
        window_s: wallS,
        appeared,
        vanished,
        memory_processes: memProcesses,
      };
    },
  };
}
