'use strict';
// What a process tree costs, read from /proc (Linux): CPU seconds, peak RSS, and the PostgreSQL
// backends serving one database.
const fs = require('node:fs');

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

function stat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / TICKS };
  } catch {
    return undefined; // gone
  }
}

function allPids() {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** pid and its descendants (cluster workers), now. */
function tree(pid) {
  const children = new Map();
  for (const p of allPids()) {
    const s = stat(p);
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), p]);
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** CPU seconds (user + system) one process has used; undefined once it is gone. */
const cpuSecondsOf = (pid) => stat(pid)?.cpu;

/** CPU seconds per pid for a set of pids. */
function cpuOf(pids) {
  return new Map(pids.map((p) => [p, stat(p)?.cpu ?? 0]));
}

/**
 * CPU of a set of processes over an interval: call start(), run the load, call stop(); the
 * result is in cores (1 = one core busy all along). Processes that start during the interval
 * count from zero; ones that exit lose their share (pools here keep their connections).
 */
function cpuMeter(listPids) {
  let before;
  let startedAt;
  return {
    start() {
      before = cpuOf(listPids());
      startedAt = process.hrtime.bigint();
    },
    stop() {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      let used = 0;
      for (const [p, cpu] of cpuOf(listPids())) used += cpu - (before.get(p) ?? 0);
      return used / seconds;
    },
  };
}

/** Resets the peak-RSS mark of each process (root or the owner may; silently skipped otherwise). */
function resetPeakRss(pids) {
  for (const p of pids) {
    try {
      fs.writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      // not permitted: VmHWM then counts from the process's start
    }
  }
}

/** Sum of VmHWM (peak resident set) over the pids, in MB, and the largest single one. */
function peakRss(pids) {
  let total = 0;
  let largest = 0;
  for (const p of pids) {
    try {
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? NaN);
      total += kb / 1024;
      largest = Math.max(largest, kb / 1024);
    } catch {
      // gone
    }
  }
  return { totalMb: total, largestMb: largest };
}

/** The PostgreSQL backends connected to `database` (their titles name it), when the server is local. */
function postgresBackends(database) {
  const out = [];
  for (const p of allPids()) {
    let cmdline;
    try {
      cmdline = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    // "postgres: 15/main: postgres authd_bench_1a2b 127.0.0.1(5678) idle"
    if (cmdline.startsWith('postgres: ') && cmdline.split(' ').includes(database)) out.push(p);
  }
  return out;
}

module.exports = { cpuSecondsOf, tree, cpuMeter, resetPeakRss, peakRss, postgresBackends };
