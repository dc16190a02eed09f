// A tarball of a freshly initialised, empty PGlite cluster. A new in-memory PGlite runs initdb
// (5-6 s of CPU); one loaded from this tarball is the same empty database for a fraction of that.
// global-setup.js makes it once per run; test/support/templates.ts starts the embedded backend
// from it (and from a migrated copy of it), and seedDataDir() puts it into data directories.
//
// The cluster is made smaller than initdb's default, because every start copies all of it into
// PGlite's in-memory file system (on this 2-core machine memory traffic is the cost: a start went
// from 1.4 s to 0.45 s of CPU): 1 MB WAL segments instead of 16 MB, no template0/template1 (a
// PGlite instance is one database; nothing here runs CREATE DATABASE in it), and shared_buffers of
// 16 MB instead of 128 MB (ALTER SYSTEM, so the setting travels in postgresql.auto.conf), since
// PGlite zeroes its buffer pool at every start and a test database holds a few hundred rows. The
// tarball's name carries a digest of that recipe, so a run never picks up one made differently.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pgliteVersion = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json'), 'utf8'),
).version;
const RECIPE = {
  initDbStartParams: ['--wal-segsize=1'],
  // One at a time: ALTER SYSTEM and DROP DATABASE refuse to run inside a transaction block.
  statements: [
    "ALTER SYSTEM SET shared_buffers = '16MB'",
    'ALTER DATABASE template0 WITH is_template false',
    'DROP DATABASE template0',
    'ALTER DATABASE template1 WITH is_template false',
    'DROP DATABASE template1',
    'CHECKPOINT',
  ],
};
const recipe = crypto.createHash('sha256').update(JSON.stringify(RECIPE)).digest('hex').slice(0, 8);
const user = process.getuid?.() ?? 'user';
const TEMPLATE = path.join(os.tmpdir(), `authd-test-pglite-${pgliteVersion}-${recipe}-${user}.tar`);

/** Where the tarball of the template after migrations with this digest is kept. */
function migratedTemplatePath(digest) {
  return path.join(os.tmpdir(), `authd-test-pglite-${pgliteVersion}-${recipe}-migrated-${digest}-${user}.tar`);
}

/** Writes a whole file or none: concurrent runs and workers read either the old state or all of it. */
function writeAtomically(file, bytes) {
  const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(partial, bytes);
  fs.renameSync(partial, file);
}

async function makePgliteTemplate() {
  if (fs.existsSync(TEMPLATE)) return TEMPLATE;
  const { PGlite } = require('@electric-sql/pglite');
  const db = await PGlite.create({ initDbStartParams: RECIPE.initDbStartParams });
  for (const statement of RECIPE.statements) await db.exec(statement);
  const dump = await db.dumpDataDir('none');
  await db.close();
  writeAtomically(TEMPLATE, Buffer.from(await dump.arrayBuffer()));
  return TEMPLATE;
}

module.exports = { TEMPLATE, makePgliteTemplate, migratedTemplatePath, writeAtomically };
