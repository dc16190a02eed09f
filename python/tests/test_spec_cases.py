"""Every case of spec/verifier-cases.json, against a live authd, through the blocking core
(Verifier.verify) and through FastAPI (async, over Starlette's TestClient)."""

from __future__ import annotations

import re
import time
from typing import Any, Dict, List, Optional

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from authd_server import AUDIENCE, Authd, decode_unverified
from authd_verifier import REASONS, IntrospectionRevocation, RedisRevocation, Verifier, VerifierError, bearer_token, rules
from authd_verifier.fastapi import Authd as AuthdDependencies
from authd_verifier.fastapi import Principal
from authd_verifier.revocation import revocation_key
from conftest import SPEC
from support import dead_url, forge, pad, tamper

CHALLENGE = f'Bearer realm="{AUDIENCE}"'


def test_the_kit_follows_the_written_rule_set() -> None:
    written = SPEC["rules"]
    assert list(rules.ALGORITHMS) == written["algorithms"]
    assert rules.TYP == written["typ"]
    assert rules.HEADER_ALLOWLIST == set(written["header_allowlist"])
    assert rules.MAX_TOKEN_LENGTH == written["max_token_length"]
    assert rules.CLOCK_SKEW_SECONDS == written["clock_skew_seconds"]
    assert list(rules.REQUIRED_CLAIMS) == written["required_claims"]
    assert rules.JWKS_REFETCH_COOLDOWN_SECONDS == written["jwks_refetch_cooldown_seconds"]
    assert REASONS == set(SPEC["reasons"])
    assert {c["expect"].get("reason") for c in SPEC["cases"]} - {None} <= REASONS


def _expanded() -> List[Any]:
    params = []
    for case in SPEC["cases"]:
        for mode in case.get("revocation") or [None]:
            params.append(pytest.param(case, mode, id=case["name"] + (f" [{mode}]" if mode else "")))
    return params


def authorization_for(case: Dict[str, Any], authd: Authd, redis_client: Any) -> Optional[str]:
    if "request" in case:
        return case["request"]["authorization"]
    spec = case["token"]
    if "issued" in spec:
        if spec["issued"] == "access" and not spec.get("revoke") and not spec.get("revoke_key"):
            token = authd.bob_token()
        else:
            token = authd.login("bob")["access_token" if spec["issued"] == "access" else "refresh_token"]
        if "tamper" in spec:
            token = tamper(token, spec["tamper"])
        if "pad_to" in spec:
            token = pad(token, spec["pad_to"])
        if spec.get("revoke"):
            authd.revoke(token)
        if spec.get("revoke_key"):
            # The entry the server writes when it revokes a signing key; the test writes it the same
            # way (<prefix>{rv}:kid:<kid>, the revoked-at time in ms), for this case only.
            key = authd.redis_prefix + revocation_key("kid", decode_unverified(token)["header"]["kid"])
            redis_client.set(key, str(int(time.time() * 1000)), px=60_000)
    else:
        forged = spec["forge"]
        token = forge(authd, forged.get("header"), forged.get("claims"), forged["sign"])
    return f"Bearer {token}"


def revocation_for(mode: Optional[str], authd: Authd) -> Any:
    """The case's revocation mode, with a blocking Redis client (averify runs it in a worker thread;
    test_revocation.py covers redis.asyncio)."""
    if mode is None:
        return None
    if mode == "introspection":
        return IntrospectionRevocation(**authd.resource_server)
    if mode == "redis":
        if authd.redis_url is None:
            pytest.skip("authd runs without Redis on the embedded backend")
        return RedisRevocation.from_url(authd.redis_url, key_prefix=authd.redis_prefix)
    if mode == "redis-down":
        return RedisRevocation.from_url(f"redis://{dead_url()}")
    raise ValueError(mode)


@pytest.fixture
def index_writer(authd: Authd):
    """Writes into authd's Redis index for a revoke_key case, and removes what it wrote."""
    if authd.redis_url is None:
        yield None
        return
    import redis

    client = redis.Redis.from_url(authd.redis_url, socket_timeout=5)
    yield client
    for key in client.scan_iter(match=f"{authd.redis_prefix}{{rv}}:kid:*"):
        client.delete(key)
    client.close()


@pytest.mark.parametrize("case,mode", _expanded())
def test_case(authd: Authd, index_writer: Any, case: Dict[str, Any], mode: Optional[str]) -> None:
    expect = case["expect"]
    revocation = revocation_for(mode, authd)  # first: skips a Redis mode on the embedded backend
    authorization = authorization_for(case, authd, index_writer)
    route = case.get("route", {})

    # The framework-free core, blocking; then the same verifier behind FastAPI, async.
    verifier = Verifier(authd.issuer, AUDIENCE, revocation=revocation)
    try:
        principal = verifier.verify(bearer_token(authorization))
        if "scope" in route:
            principal.require_scopes(route["scope"])
        if "role" in route:
            principal.require_roles(route["role"])
        if route.get("mfa"):
            principal.require_mfa(max_age=route.get("max_age"), now=time.time())
        if "acr" in route:
            principal.require_acr(route["acr"], max_age=route.get("max_age"), now=time.time())
        outcome: Dict[str, Any] = {"ok": True}
    except VerifierError as error:
        outcome = {"status": error.status, "error": error.error, "reason": error.reason}
    assert outcome == _comparable(expect)

    refusals: List[VerifierError] = []
    dependencies = AuthdDependencies(verifier, on_error=lambda e, _r: refusals.append(e))
    guard = dependencies.require_auth
    if "scope" in route:
        guard = dependencies.require_scope(route["scope"])
    if "role" in route:
        guard = dependencies.require_role(route["role"])
    if route.get("mfa"):
        guard = dependencies.require_mfa(max_age=route.get("max_age"))
    if "acr" in route:
        guard = dependencies.require_acr(route["acr"], max_age=route.get("max_age"))
    app = FastAPI()

    @app.get("/agents")
    async def agents(who: Principal = Depends(guard)) -> Dict[str, str]:
        return {"sub": who.sub}

    with TestClient(app) as client:
        answer = client.get("/agents", headers={"authorization": authorization} if authorization is not None else {})
    if expect.get("ok"):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sub": authd.users["bob"].id}
        assert refusals == []
        return
    assert answer.status_code == expect["status"]
    assert [e.reason for e in refusals] == [expect["reason"]]
    assert answer.headers["cache-control"] == "no-store"
    challenge = answer.headers.get("www-authenticate")
    if expect["status"] == 503:
        assert challenge is None
        assert answer.headers["retry-after"] == "5"
        assert answer.json() == {"detail": {"error": "temporarily_unavailable",
                                            "error_description": "Token verification is unavailable."}}
    elif expect.get("error") is None:
        assert challenge == CHALLENGE  # RFC 6750 §3.1: no error code without a token
    else:
        assert challenge.startswith(f'{CHALLENGE}, error="{expect["error"]}", error_description="')
        assert answer.json()["detail"]["error"] == expect["error"]
        if "scope" in route:
            assert challenge.endswith(f', scope="{route["scope"]}"')
        # Exactly the step-up parameters the case lists (RFC 9470 §3), and none when it lists none.
        assert dict(re.findall(r', (acr_values|max_age)="([^"]*)"', challenge)) == expect.get("challenge", {})


def _comparable(expect: Dict[str, Any]) -> Dict[str, Any]:
    if expect.get("ok"):
        return {"ok": True}
    return {"status": expect["status"], "error": expect.get("error"), "reason": expect["reason"]}
