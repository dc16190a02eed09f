// Runs once in jest's parent process, before any suite.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { makePgliteTemplate } = require('./pglite-template');

module.exports = async () => {
  await makePgliteTemplate();
  // Where test/topology/processes.ts records its children for global-teardown.js; the workers inherit it.
  process.env.AUTHD_TEST_LEFTOVERS = fs.mkdtempSync(path.join(os.tmpdir(), 'authd-test-leftovers-'));
  const { DATABASE_URL, REDIS_URL, CI, TEST_TIME_FACTOR } = process.env;
  if (!(DATABASE_URL && REDIS_URL) && CI !== 'true') {
    process.stderr.write(
      '\n[authd tests] DATABASE_URL and REDIS_URL are not set: the Postgres + Redis half of the suite is SKIPPED.\n' +
        '  Enable it with e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm test\n\n',
    );
  }
  if (Number(TEST_TIME_FACTOR) > 1)
    process.stderr.write(`[authd tests] timeouts scaled by ${TEST_TIME_FACTOR} for this machine's cores and load\n`);
};
