"""Both revocation modes against a live authd: what each sees (a revoked jti, a revoked session,
a user's sign-out everywhere, a revoked signing key), its cache, and failing closed (or open when
told) when the check cannot be made."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from authd_server import AUDIENCE, PASSWORD, Authd, decode_unverified
from authd_verifier import IntrospectionRevocation, RedisRevocation, Verifier, VerifierError
from authd_verifier.revocation import issued_before_revocation
from support import Clock, Proxy, dead_url

INTROSPECT = "/oauth/introspect"


def reason_of(verifier: Verifier, token: str) -> str:
    with pytest.raises(VerifierError) as refused:
        verifier.verify(token)
    return refused.value.reason


def test_the_user_not_before_counts_whole_seconds() -> None:
    assert issued_before_revocation(1000, "1000999")  # same second: revoked
    assert issued_before_revocation(999, "1000000")
    assert not issued_before_revocation(1001, "1000999")
    assert issued_before_revocation(1001, "garbage")  # unreadable: refused rather than guessed


class TestRedisIndex:
    @pytest.fixture
    def verifier(self, authd: Authd, redis_client) -> Verifier:
        return Verifier(authd.issuer, AUDIENCE,
                        revocation=RedisRevocation(redis_client, key_prefix=authd.redis_prefix))

    def test_a_revoked_access_token(self, authd: Authd, verifier: Verifier) -> None:
        token = authd.access_token()
        assert verifier.verify(token).sub == authd.users["bob"].id
        authd.revoke(token)
        assert reason_of(verifier, token) == "revoked"

    def test_a_revoked_session_reaches_its_access_tokens(self, authd: Authd, verifier: Verifier) -> None:
        tokens = authd.login()
        other = authd.access_token()  # another session of the same user
        authd.revoke(tokens["refresh_token"])  # logout
        assert reason_of(verifier, tokens["access_token"]) == "revoked"
        assert verifier.verify(other).sub == authd.users["bob"].id

    def test_sign_out_everywhere_revokes_what_was_issued_before(self, authd: Authd, verifier: Verifier) -> None:
        # A user of its own: a login in the same second as the revocation would be refused too.
        name = f"nbf-{secrets.token_hex(4)}"
        user = authd.admin("POST", "/admin/users", {"username": f"{name}@example.com", "password": PASSWORD,
                                                    "scopes": ["agents:read"]})
        token = authd.access_token(name)
        assert verifier.verify(token).sub == user["id"]
        authd.admin("POST", f"/admin/users/{user['id']}/revoke-sessions")
        assert reason_of(verifier, token) == "revoked"

    def test_a_revoked_signing_key(self, authd: Authd, verifier: Verifier, redis_client) -> None:
        token = authd.access_token()
        kid = decode_unverified(token)["header"]["kid"]
        other_kid_key = f"{authd.redis_prefix}{{rv}}:kid:some-other-kid"
        redis_client.set(other_kid_key, "1", px=60_000)
        assert verifier.verify(token).sub == authd.users["bob"].id
        # The entry the server writes when a key is revoked (<prefix>{rv}:kid:<kid>, revoked-at ms).
        key = f"{authd.redis_prefix}{{rv}}:kid:{kid}"
        redis_client.set(key, "1700000000000", px=60_000)
        try:
            assert reason_of(verifier, token) == "key_revoked"
        finally:
            redis_client.delete(key, other_kid_key)

    def test_an_incomplete_index_fails_closed(self, authd: Authd, redis_client) -> None:
        # A prefix with no epoch: what a flushed or not yet re-seeded Redis looks like.
        empty = f"authd-py-empty:{authd.redis_prefix}"
        token = authd.access_token()
        closed = Verifier(authd.issuer, AUDIENCE, revocation=RedisRevocation(redis_client, key_prefix=empty))
        assert reason_of(closed, token) == "unavailable"
        opened = Verifier(authd.issuer, AUDIENCE,
                          revocation=RedisRevocation(redis_client, key_prefix=empty, fail_open=True))
        assert opened.verify(token).sub == authd.users["bob"].id

    def test_the_asyncio_client_in_averify(self, authd: Authd, redis_client) -> None:
        token = authd.access_token()
        authd.revoke(token)
        fresh = authd.access_token()

        async def check() -> tuple:
            revocation = RedisRevocation.from_url(authd.redis_url, key_prefix=authd.redis_prefix, asyncio_client=True)
            verifier = Verifier(authd.issuer, AUDIENCE, revocation=revocation)
            try:
                ok = (await verifier.averify(fresh)).sub
                try:
                    await verifier.averify(token)
                    refused = "accepted"
                except VerifierError as error:
                    refused = error.reason
                return ok, refused
            finally:
                await revocation.client.close()

        assert asyncio.run(check()) == (authd.users["bob"].id, "revoked")
        with pytest.raises(TypeError):  # an asyncio client cannot serve the blocking path
            Verifier(authd.issuer, AUDIENCE, revocation=RedisRevocation.from_url(
                authd.redis_url, key_prefix=authd.redis_prefix, asyncio_client=True)).verify(fresh)


def test_redis_down_fails_closed_or_open_when_told(authd: Authd) -> None:
    token = authd.access_token()
    down = f"redis://{dead_url()}"
    closed = Verifier(authd.issuer, AUDIENCE, revocation=RedisRevocation.from_url(down))
    assert reason_of(closed, token) == "unavailable"
    opened = Verifier(authd.issuer, AUDIENCE, revocation=RedisRevocation.from_url(down, fail_open=True))
    assert opened.verify(token).sub == authd.users["bob"].id


class TestIntrospection:
    @pytest.fixture
    def proxy(self, authd: Authd):
        server = Proxy(authd.issuer)
        yield server
        server.close()

    def test_a_revoked_token_via_discovery(self, authd: Authd) -> None:
        verifier = Verifier(authd.issuer, AUDIENCE, revocation=IntrospectionRevocation(**authd.resource_server))
        token = authd.access_token()
        assert verifier.verify(token).sub == authd.users["bob"].id
        other = authd.access_token()
        authd.revoke(other)
        assert reason_of(verifier, other) == "revoked"

    def test_answers_are_cached_active_briefly_inactive_until_exp(self, authd: Authd, proxy: Proxy) -> None:
        clock = Clock()
        revocation = IntrospectionRevocation(**authd.resource_server, endpoint=proxy.url + INTROSPECT,
                                             cache_seconds=10, clock=clock)
        verifier = Verifier(authd.issuer, AUDIENCE, revocation=revocation, clock=clock)
        token = authd.access_token()
        verifier.verify(token)
        verifier.verify(token)
        assert proxy.count(INTROSPECT) == 1
        authd.revoke(token)
        verifier.verify(token)  # within cache_seconds the active answer stands
        assert proxy.count(INTROSPECT) == 1
        clock.advance(11)
        assert reason_of(verifier, token) == "revoked"
        assert proxy.count(INTROSPECT) == 2
        clock.advance(60)
        assert reason_of(verifier, token) == "revoked"  # inactive is final: no new call
        assert proxy.count(INTROSPECT) == 2

    def test_unreachable_or_refused_fails_closed_or_open_when_told(self, authd: Authd, proxy: Proxy) -> None:
        token = authd.access_token()
        dead = f"http://{dead_url()}{INTROSPECT}"
        closed = Verifier(authd.issuer, AUDIENCE, revocation=IntrospectionRevocation(**authd.resource_server, endpoint=dead))
        assert reason_of(closed, token) == "unavailable"
        wrong_secret = IntrospectionRevocation(authd.resource_server["client_id"], "not-the-secret")
        assert reason_of(Verifier(authd.issuer, AUDIENCE, revocation=wrong_secret), token) == "unavailable"
        opened = Verifier(authd.issuer, AUDIENCE,
                          revocation=IntrospectionRevocation(**authd.resource_server, endpoint=dead, fail_open=True))
        assert opened.verify(token).sub == authd.users["bob"].id

    def test_the_async_path(self, authd: Authd) -> None:
        token = authd.access_token()
        authd.revoke(token)
        verifier = Verifier(authd.issuer, AUDIENCE, revocation=IntrospectionRevocation(**authd.resource_server))

        async def check() -> str:
            try:
                await verifier.averify(token)
            except VerifierError as error:
                return error.reason
            return "accepted"

        assert asyncio.run(check()) == "revoked"
