import os from 'node:os';

// libuv's thread pool runs Argon2 and RS256 signing. Argon2 may take up to one thread per core
// (AUTHD_ARGON2_MAX_CONCURRENCY); four more keep signing, file and DNS work from queueing behind
// it. Must be set before the pool's first use, so this module is imported first.
process.env.UV_THREADPOOL_SIZE ??= String(os.availableParallelism() + 4);
