"""examples/fastapi-agent-api, started with uvicorn against a live authd and driven over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from authd_server import AUDIENCE, ROOT, Authd, free_port, wait_until


@pytest.fixture
def agent_api(authd: Authd):
    if authd.backend == "embedded" and os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        pytest.skip("the example runs once, on Postgres + Redis, where it also reads the revocation index")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python" / "src"), "AUTHD_ISSUER": authd.issuer,
           "AGENT_API_AUDIENCE": AUDIENCE}
    env.pop("REDIS_URL", None)
    if authd.redis_url:  # on Postgres + Redis, the example reads authd's revocation index too
        env.update(REDIS_URL=authd.redis_url, AUTHD_REDIS_PREFIX=authd.redis_prefix)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(ROOT / "examples" / "fastapi-agent-api"),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the example exited {process.returncode}: {process.stdout.read().decode()}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until("the example agent API", answers, timeout=60)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_the_agent_route_needs_agents_execute(authd: Authd, agent_api: str) -> None:
    runner = authd.access_token("ada", "agents:read agents:execute")
    reader = authd.access_token("bob")
    with httpx.Client(base_url=agent_api, timeout=30) as api:
        assert api.post("/agents/researcher/runs", json={"task": "x"}).status_code == 401
        refused = api.post("/agents/researcher/runs", json={"task": "x"}, headers={"authorization": f"Bearer {reader}"})
        assert refused.status_code == 403
        assert 'scope="agents:execute"' in refused.headers["www-authenticate"]

        started = api.post("/agents/researcher/runs", json={"task": "summarise RFC 9068"},
                           headers={"authorization": f"Bearer {runner}"})
        assert started.status_code == 202
        run = started.json()
        assert run == {"id": run["id"], "agent": "researcher", "task": "summarise RFC 9068",
                       "requested_by": authd.users["ada"].id, "client_id": "agents-web", "status": "queued"}
        assert api.get(f"/runs/{run['id']}", headers={"authorization": f"Bearer {runner}"}).json() == run
        assert api.get(f"/runs/{run['id']}", headers={"authorization": f"Bearer {reader}"}).status_code == 404
        assert [a["id"] for a in api.get("/agents", headers={"authorization": f"Bearer {reader}"}).json()] == [
            "researcher", "coder"]
        assert api.get("/admin/runs", headers={"authorization": f"Bearer {reader}"}).status_code == 403
        assert api.get("/admin/runs", headers={"authorization": f"Bearer {runner}"}).json() == [run]

        scheme = api.get("/openapi.json").json()["components"]["securitySchemes"]["authd"]
        assert scheme["flows"]["password"]["tokenUrl"] == f"{authd.issuer}/oauth/token"

        if authd.redis_url:
            authd.revoke(runner)
            gone = api.get("/agents", headers={"authorization": f"Bearer {runner}"})
            assert gone.status_code == 401
            assert 'error="invalid_token"' in gone.headers["www-authenticate"]
