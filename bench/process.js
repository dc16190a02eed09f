'use strict';
// Child processes for the bench: free ports, waiting until one listens, start and stop.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

// The bench's own loopback ports (see the shared port plan): a server's port must be known before
// it starts (it is in its issuer URL) and seeding takes seconds, so an ephemeral port could be
// taken by someone else meanwhile. Each call hands out the next one that is free now.
const PORT_RANGE = [41500, 41599];
let nextPort = PORT_RANGE[0];

function canListen(port) {
  return new Promise((resolve) => {
    const server = net
      .createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort() {
  for (let tries = 0; tries <= PORT_RANGE[1] - PORT_RANGE[0]; tries++) {
    const port = nextPort;
    nextPort = port >= PORT_RANGE[1] ? PORT_RANGE[0] : port + 1;
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.join('-')}`);
}

/** Resolves once something accepts connections on the port; rejects if the child exits first. */
async function waitForPort(port, child, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    const open = await new Promise((resolve) => {
      const socket = net
        .connect(port, '127.0.0.1')
        .once('connect', () => {
          socket.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${port}`);
}

/** Starts a process that listens on `port`; resolves when it does. */
async function startProcess(command, args, env, port) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${path.basename(args.at(-1) ?? command)} did not start: ${error.message}\n${output}`);
  }
  return {
    pid: child.pid,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

module.exports = { ROOT, freePort, startProcess };
