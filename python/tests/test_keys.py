"""The JWKS cache against a live authd: discovery, max-age, the unknown-kid refetch and its
cooldown, one shared fetch for concurrent callers, a key rotation without restart, a kid that
disappeared, and authd unreachable. A counting proxy in front of authd sees every fetch; the
verifier's clock is moved instead of sleeping."""

from __future__ import annotations

import asyncio
import threading

import pytest

from authd_server import AUDIENCE, JWKS_MAX_AGE, Authd, decode_unverified
from authd_verifier import Verifier, VerifierError
from support import Clock, Proxy, dead_url, forge

JWKS = "/.well-known/jwks.json"
METADATA = "/.well-known/oauth-authorization-server"


@pytest.fixture
def proxy(authd: Authd):
    server = Proxy(authd.issuer)
    yield server
    server.close()


def reason_of(verifier: Verifier, token: str) -> str:
    with pytest.raises(VerifierError) as refused:
        verifier.verify(token)
    return refused.value.reason


def test_discovers_the_jwks_uri_from_the_issuer_metadata(authd: Authd) -> None:
    verifier = Verifier(authd.issuer, AUDIENCE)
    principal = verifier.verify(authd.access_token("ada", "agents:read agents:execute"))
    claims = principal.claims
    assert (principal.sub, principal.client_id, principal.scopes, principal.roles, principal.sid) == (
        authd.users["ada"].id, "agents-web", ("agents:read", "agents:execute"), ("user", "admin"), claims["sid"])
    assert verifier.metadata.field("jwks_uri") == f"{authd.issuer}{JWKS}"


def test_metadata_naming_another_issuer_is_refused(authd: Authd) -> None:
    # The same server under another name: its metadata says 127.0.0.1, so discovery must fail.
    other_name = authd.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(VerifierError) as refused:
        Verifier(other_name, AUDIENCE).verify(authd.access_token())
    assert refused.value.reason == "unavailable"


def test_honours_max_age_then_refetches(authd: Authd, proxy: Proxy) -> None:
    clock = Clock()
    verifier = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS, clock=clock)
    token = authd.access_token()
    verifier.verify(token)
    assert proxy.count(JWKS) == 1
    assert proxy.count(METADATA) == 0  # jwks_uri given: no discovery
    clock.advance(JWKS_MAX_AGE - 5)
    verifier.verify(token)
    assert proxy.count(JWKS) == 1
    clock.advance(10)
    verifier.verify(token)
    assert proxy.count(JWKS) == 2


def test_unknown_kid_refetches_once_per_cooldown(authd: Authd, proxy: Proxy) -> None:
    clock = Clock()
    verifier = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS, clock=clock)
    verifier.verify(authd.access_token())
    unknown = forge(authd, header={"kid": "unknown-kid"}, how="foreign-key")
    # Right after a fetch: within the cooldown, no refetch.
    assert reason_of(verifier, unknown) == "unknown_key"
    assert proxy.count(JWKS) == 1
    clock.advance(31)
    for _ in range(5):
        assert reason_of(verifier, unknown) == "unknown_key"
    assert proxy.count(JWKS) == 2  # one refetch, then the cooldown holds
    clock.advance(31)
    assert reason_of(verifier, unknown) == "unknown_key"
    assert proxy.count(JWKS) == 3


def test_concurrent_callers_share_one_fetch(authd: Authd, proxy: Proxy) -> None:
    proxy.delay = 0.5
    token = authd.access_token()
    threaded = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(threaded.verify(token).sub)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [authd.users["bob"].id] * 8
    assert proxy.count(JWKS) == 1

    tasks = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS)

    async def many() -> list:
        return await asyncio.gather(*(tasks.averify(token) for _ in range(8)))

    assert [p.sub for p in asyncio.run(many())] == [authd.users["bob"].id] * 8
    assert proxy.count(JWKS) == 2


def test_key_rotation_reaches_a_running_verifier(authd: Authd, proxy: Proxy) -> None:
    clock = Clock()
    verifier = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS, clock=clock)
    before = authd.access_token()
    verifier.verify(before)
    rotated = authd.rotate_key()
    after = authd.access_token()
    assert decode_unverified(after)["header"]["kid"] == rotated != decode_unverified(before)["header"]["kid"]
    clock.advance(31)  # past the cooldown of the first fetch
    assert verifier.verify(after).sub == authd.users["bob"].id
    assert proxy.count(JWKS) == 2
    # The retired key stays published until its last token expires: old tokens still pass.
    assert verifier.verify(before).sub == authd.users["bob"].id
    assert proxy.count(JWKS) == 2


def test_a_kid_gone_from_the_refetched_set_is_refused(authd: Authd, proxy: Proxy) -> None:
    clock = Clock()
    verifier = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS, clock=clock)
    token = authd.access_token()
    verifier.verify(token)
    proxy.drop_kids = {decode_unverified(token)["header"]["kid"]}
    clock.advance(JWKS_MAX_AGE + 1)
    assert reason_of(verifier, token) == "unknown_key"
    assert proxy.count(JWKS) == 2


def test_jwks_unreachable_is_unavailable_not_a_bad_token(authd: Authd, proxy: Proxy) -> None:
    token = authd.access_token()
    assert reason_of(Verifier(authd.issuer, AUDIENCE, jwks_uri=f"http://{dead_url()}{JWKS}"), token) == "unavailable"
    proxy.fail = True
    failing = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS)
    assert reason_of(failing, token) == "unavailable"
    assert reason_of(failing, token) == "unavailable"  # still no keys: not "unknown_key"
    proxy.fail = False

    async def later() -> str:
        try:
            await Verifier(authd.issuer, AUDIENCE, jwks_uri=f"http://{dead_url()}{JWKS}").averify(token)
        except VerifierError as error:
            return error.reason
        return "accepted"

    assert asyncio.run(later()) == "unavailable"


def test_a_slow_jwks_is_cut_off_by_the_timeout(authd: Authd, proxy: Proxy) -> None:
    proxy.delay = 3
    verifier = Verifier(authd.issuer, AUDIENCE, jwks_uri=proxy.url + JWKS, timeout_seconds=0.5)
    assert reason_of(verifier, authd.access_token()) == "unavailable"
