"""The FastAPI dependencies over Starlette's TestClient, with tokens from a live authd."""

from __future__ import annotations

from typing import Dict, List

import pytest
from fastapi import Depends, FastAPI, Request, Security
from fastapi.testclient import TestClient

from authd_server import AUDIENCE, Authd, decode_unverified
from authd_verifier import Verifier, VerifierError
from authd_verifier.fastapi import Authd as AuthdDependencies
from authd_verifier.fastapi import Principal
from support import dead_url

REALM = f'realm="{AUDIENCE}"'


def build(authd: Authd, **options) -> tuple:
    refusals: List[VerifierError] = []
    deps = AuthdDependencies(issuer=authd.issuer, audience=AUDIENCE, on_error=lambda e, _r: refusals.append(e),
                             scopes={"agents:read": "List agents", "agents:execute": "Run agents"}, **options)
    app = FastAPI()

    @app.get("/me")
    async def me(request: Request, who: Principal = Depends(deps.require_auth)) -> Dict:
        assert request.state.principal is who
        return {"sub": who.sub, "client_id": who.client_id, "scopes": list(who.scopes), "roles": list(who.roles),
                "sid": who.sid, "claims": dict(who.claims)}

    @app.post("/agents/{agent_id}/runs", status_code=202)
    def run(agent_id: str, who: Principal = Depends(deps.require_scope("agents:execute"))) -> Dict:
        return {"agent": agent_id, "by": who.sub}  # a plain def route: FastAPI runs it in a thread

    @app.get("/agents")
    async def agents(who: Principal = Security(deps.require_auth, scopes=["agents:read"])) -> Dict:
        return {"by": who.sub}

    @app.get("/admin", dependencies=[Depends(deps.require_role("admin"))])
    async def admin() -> Dict:
        return {"ok": True}

    return app, refusals


def test_a_valid_token_gives_the_typed_principal(authd: Authd) -> None:
    app, refusals = build(authd)
    token = authd.access_token("ada", "agents:read agents:execute")
    with TestClient(app) as client:
        answer = client.get("/me", headers={"authorization": f"bearer {token}"})  # the scheme in any case
    claims = decode_unverified(token)["payload"]
    assert answer.status_code == 200
    assert answer.json() == {"sub": authd.users["ada"].id, "client_id": "agents-web",
                             "scopes": ["agents:read", "agents:execute"], "roles": ["user", "admin"],
                             "sid": claims["sid"], "claims": claims}
    assert refusals == []


def test_scopes_with_require_scope_and_with_security_scopes(authd: Authd) -> None:
    app, refusals = build(authd)
    runner = authd.access_token("ada", "agents:read agents:execute")
    reader = authd.access_token("bob")
    with TestClient(app) as client:
        ok = client.post("/agents/a-1/runs", headers={"authorization": f"Bearer {runner}"})
        assert (ok.status_code, ok.json()) == (202, {"agent": "a-1", "by": authd.users["ada"].id})
        refused = client.post("/agents/a-1/runs", headers={"authorization": f"Bearer {reader}"})
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"] == (
            f'Bearer {REALM}, error="insufficient_scope", '
            'error_description="The token lacks the scope this resource needs.", scope="agents:execute"')
        assert refused.json() == {"detail": {"error": "insufficient_scope",
                                             "error_description": "The token lacks the scope this resource needs."}}
        assert client.get("/agents", headers={"authorization": f"Bearer {reader}"}).json() == {"by": authd.users["bob"].id}
    assert [e.reason for e in refusals] == ["insufficient_scope"]


def test_roles(authd: Authd) -> None:
    app, refusals = build(authd)
    with TestClient(app) as client:
        ada = client.get("/admin", headers={"authorization": f"Bearer {authd.access_token('ada')}"})
        bob = client.get("/admin", headers={"authorization": f"Bearer {authd.access_token('bob')}"})
    assert (ada.status_code, ada.json()) == (200, {"ok": True})
    assert bob.status_code == 403
    assert bob.headers["www-authenticate"].startswith(f'Bearer {REALM}, error="insufficient_scope"')
    assert [e.reason for e in refusals] == ["insufficient_role"]


@pytest.mark.parametrize("headers,status,reason", [
    ([], 401, "missing_token"),
    ([("authorization", "Basic dXNlcjpwYXNz")], 401, "missing_token"),
    ([("authorization", "Bearer")], 400, "malformed_header"),
    ([("authorization", "Bearer a b")], 400, "malformed_header"),
    ([("authorization", "Bearer abc,def")], 400, "malformed_header"),
    ([("authorization", "Bearer abc"), ("authorization", "Bearer def")], 400, "malformed_header"),
])
def test_the_authorization_header(authd: Authd, headers: list, status: int, reason: str) -> None:
    app, refusals = build(authd)
    with TestClient(app) as client:
        answer = client.get("/me", headers=headers)
    assert answer.status_code == status
    assert [e.reason for e in refusals] == [reason]
    if status == 401:
        assert answer.headers["www-authenticate"] == f"Bearer {REALM}"
        assert answer.json() == {"detail": {"error": "unauthorized", "error_description": "Authentication required."}}
    else:
        assert answer.headers["www-authenticate"] == (
            f'Bearer {REALM}, error="invalid_request", error_description="The Authorization header must be Bearer <token>."')
        assert answer.json() == {"detail": {"error": "invalid_request",
                                            "error_description": 'The Authorization header must be "Bearer <token>".'}}


def test_503_when_the_keys_cannot_be_fetched(authd: Authd) -> None:
    app, refusals = build(authd, jwks_uri=f"http://{dead_url()}/.well-known/jwks.json")
    with TestClient(app) as client:
        answer = client.get("/me", headers={"authorization": f"Bearer {authd.access_token()}"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "www-authenticate" not in answer.headers
    assert [e.reason for e in refusals] == ["unavailable"]


def test_openapi_shows_an_oauth2_password_scheme_at_authds_token_endpoint(authd: Authd) -> None:
    app, _ = build(authd)
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"] == {"authd": {
        "type": "oauth2",
        "description": "An access token from authd (password or client_credentials grant).",
        "flows": {"password": {"tokenUrl": f"{authd.issuer}/oauth/token",
                               "scopes": {"agents:read": "List agents", "agents:execute": "Run agents"}}},
    }}
    paths = document["paths"]
    assert paths["/me"]["get"]["security"] == [{"authd": []}]
    assert paths["/agents/{agent_id}/runs"]["post"]["security"] == [{"authd": ["agents:execute"]}]
    assert paths["/agents"]["get"]["security"] == [{"authd": ["agents:read"]}]
    # The scheme's token endpoint is authd's real one: the password grant answers there.
    assert authd.login("bob")["token_type"] == "Bearer"


def test_a_verifier_can_be_shared(authd: Authd) -> None:
    verifier = Verifier(authd.issuer, AUDIENCE)
    deps = AuthdDependencies(verifier, realm="agents")
    app = FastAPI()

    @app.get("/me")
    async def me(who: Principal = Depends(deps.require_auth)) -> Dict:
        return {"sub": who.sub}

    with TestClient(app) as client:
        assert client.get("/me").headers["www-authenticate"] == 'Bearer realm="agents"'
        assert client.get("/me", headers={"authorization": f"Bearer {authd.access_token()}"}).json() == {
            "sub": authd.users["bob"].id}
    with pytest.raises(TypeError):
        AuthdDependencies(verifier, issuer=authd.issuer)
