"""An AI-agent backend protected by authd's tokens through authd_verifier's FastAPI dependencies.

    AUTHD_ISSUER=http://localhost:3000 AGENT_API_AUDIENCE=https://agents.example.com \
      python3 -m uvicorn app:app --port 4100

Routes: GET /health (public), GET /agents (scope agents:read), POST /agents/{agent_id}/runs
(scope agents:execute: starts a run of the agent's tools for the caller), GET /runs/{run_id}
(agents:read, own runs only), GET /admin/runs (role admin). Set REDIS_URL (and
AUTHD_REDIS_PREFIX) to see revocations at once through authd's Redis index.
"""

from __future__ import annotations

import os
import uuid
from typing import Dict, List

from fastapi import Depends, FastAPI, HTTPException, Security
from pydantic import BaseModel

from authd_verifier import RedisRevocation
from authd_verifier.fastapi import Authd, Principal

ISSUER = os.environ.get("AUTHD_ISSUER", "http://localhost:3000")
AUDIENCE = os.environ.get("AGENT_API_AUDIENCE", "https://agents.example.com")

revocation = None
if os.environ.get("REDIS_URL"):
    revocation = RedisRevocation.from_url(os.environ["REDIS_URL"], key_prefix=os.environ.get("AUTHD_REDIS_PREFIX", "authd:"),
                                          asyncio_client=True)

authd = Authd(issuer=ISSUER, audience=AUDIENCE, revocation=revocation,
              scopes={"agents:read": "See agents and your runs", "agents:execute": "Run agents"})
app = FastAPI(title="Agent API")

AGENTS = {"researcher": "Searches and summarises", "coder": "Writes and tests code"}
RUNS: Dict[str, dict] = {}


class RunRequest(BaseModel):
    task: str


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/agents")
async def list_agents(who: Principal = Security(authd.require_auth, scopes=["agents:read"])) -> List[dict]:
    return [{"id": agent_id, "description": text} for agent_id, text in AGENTS.items()]


@app.post("/agents/{agent_id}/runs", status_code=202)
async def start_run(agent_id: str, body: RunRequest,
                    who: Principal = Depends(authd.require_scope("agents:execute"))) -> dict:
    if agent_id not in AGENTS:
        raise HTTPException(404, "no such agent")
    run = {"id": str(uuid.uuid4()), "agent": agent_id, "task": body.task, "requested_by": who.sub,
           "client_id": who.client_id, "status": "queued"}
    RUNS[run["id"]] = run
    return run


@app.get("/runs/{run_id}")
async def get_run(run_id: str, who: Principal = Security(authd.require_auth, scopes=["agents:read"])) -> dict:
    run = RUNS.get(run_id)
    if run is None or run["requested_by"] != who.sub:
        raise HTTPException(404, "no such run")
    return run


@app.get("/admin/runs")
async def all_runs(who: Principal = Depends(authd.require_role("admin"))) -> List[dict]:
    return list(RUNS.values())
