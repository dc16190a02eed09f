// A tarball of a freshly initialised, empty PGlite cluster. A new in-memory PGlite runs initdb
// (5-6 s of CPU); one loaded from this tarball is the same empty database for a quarter of that.
// global-setup.js makes it once per run; test/support/backends.ts starts the embedded backend from it.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pgliteVersion = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json'), 'utf8'),
).version;
const TEMPLATE = path.join(os.tmpdir(), `authd-test-pglite-${pgliteVersion}-${process.getuid?.() ?? 'user'}.tar`);

async function makePgliteTemplate() {
  if (fs.existsSync(TEMPLATE)) return TEMPLATE;
  const { PGlite } = require('@electric-sql/pglite');
  const db = await PGlite.create();
  const dump = await db.dumpDataDir('none');
  await db.close();
  const partial = `${TEMPLATE}.${process.pid}`;
  fs.writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
  fs.renameSync(partial, TEMPLATE); // atomic: a concurrent run reads a whole file or none
  return TEMPLATE;
}

module.exports = { TEMPLATE, makePgliteTemplate };
