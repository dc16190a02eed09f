"""The pytest session: the kit from python/src, and a live authd per backend.

Every test that takes the ``authd`` fixture runs twice: on the embedded database, and on
Postgres + Redis when DATABASE_URL and REDIS_URL are set (skipped visibly otherwise; under
CI=true a missing service is a failure, as in the Node suite).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pip_install  # noqa: E402
from authd_server import ROOT, Authd  # noqa: E402

SPEC = json.loads((ROOT / "spec" / "verifier-cases.json").read_text())
BACKENDS = ["embedded", "postgres+redis"]


def _postgres_and_redis() -> bool:
    return bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))


_starts: Dict[str, "Future[Authd]"] = {}
_pool = ThreadPoolExecutor(max_workers=len(BACKENDS) + 1, thread_name_prefix="authd-start")


def _backend_of(item: pytest.Item) -> Optional[str]:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("authd") if callspec else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: List[pytest.Item]) -> None:
    """Starts every authd the selected tests need at once, so the backends boot in parallel, and
    runs the tests that need none first, then Postgres + Redis (quick to boot), then the embedded
    database (whose first start, migrations in WebAssembly, is the slowest), then the pip check."""
    needed = {_backend_of(item) for item in items} if not config.option.collectonly else set()
    for backend in BACKENDS:
        if backend in needed and (backend == "embedded" or _postgres_and_redis()):
            _starts[backend] = _pool.submit(Authd.start, backend)
    # The pip-install check runs in the background from the start and is asserted last.
    packaging = [item for item in items if item.path.name == "test_packaging.py"]
    if packaging and not config.option.collectonly:
        pip_install.started = _pool.submit(pip_install.install_and_import)
    rank = {None: 0, "postgres+redis": 1, "embedded": 2}
    items.sort(key=lambda item: 3 if item in packaging else rank[_backend_of(item)])  # stable within groups


@atexit.register
def _stop_every_authd() -> None:
    # Normally each fixture's teardown stopped its server (stop is idempotent); this also covers
    # a backend no selected test reached, an interrupted session, and a start still under way.
    for start in _starts.values():
        try:
            start.result(timeout=300).stop()
        except Exception:
            pass  # a start that failed cleaned up after itself


@pytest.fixture(scope="session", params=BACKENDS)
def authd(request: pytest.FixtureRequest):
    if request.param == "postgres+redis" and not _postgres_and_redis():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but DATABASE_URL and REDIS_URL are not both set: the Postgres + Redis half cannot run")
        pytest.skip("DATABASE_URL and REDIS_URL are not set: the Postgres + Redis half is SKIPPED")
    start = _starts.get(request.param) or _pool.submit(Authd.start, request.param)
    _starts[request.param] = start
    server = start.result(timeout=900)
    yield server
    server.stop()


@pytest.fixture
def redis_client(authd: Authd):
    """A blocking redis-py client on authd's Redis (postgres+redis backend only)."""
    if authd.redis_url is None:
        pytest.skip("authd runs without Redis on the embedded backend")
    import redis

    client = redis.Redis.from_url(authd.redis_url, socket_timeout=5)
    yield client
    client.close()
