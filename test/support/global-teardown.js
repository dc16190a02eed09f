// Runs once in jest's parent process, after every suite: kills the servers a topology test started
// (redis-server, pgbouncer, haproxy, authd) that are still running because their jest worker was
// force-exited or killed before its own cleanup ran. Each is recorded by test/topology/processes.ts.
const fs = require('node:fs');
const path = require('node:path');

/** The recorded pid still runs the recorded command (not a later process that reused the pid). */
function stillRuns(pid, command) {
  try {
    return fs
      .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .some((arg) => path.basename(arg) === command);
  } catch {
    return false;
  }
}

module.exports = async () => {
  const dir = process.env.AUTHD_TEST_LEFTOVERS;
  if (!dir || !fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    const pid = Number(name);
    const { command, group } = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    if (!stillRuns(pid, command)) continue;
    process.stderr.write(`[authd tests] killing a leftover ${command} (pid ${pid}) whose test did not stop it\n`);
    try {
      process.kill(group ? -pid : pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
};
