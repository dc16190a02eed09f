"""The pure pieces, without authd: which JWKS entries are trusted, max-age, the bearer header,
the error's RFC 6750 rendering."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from authd_verifier import VerifierError, bearer_token
from authd_verifier.keyset import max_age, parse_jwks


_KEYS = {bits: rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key() for bits in (1024, 2048)}


def rsa_jwk(kid: str, bits: int = 2048, **extra: str) -> dict:
    return {**json.loads(RSAAlgorithm.to_jwk(_KEYS[bits])), "kid": kid, **extra}


def test_only_rs256_signing_keys_of_2048_bits_or_more_are_trusted() -> None:
    ec_jwk = {**json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())), "kid": "ec"}
    document = {"keys": [
        rsa_jwk("good", use="sig", alg="RS256"), rsa_jwk("bare"), rsa_jwk("small", bits=1024),
        rsa_jwk("encryption", use="enc"), rsa_jwk("rs512", alg="RS512"), ec_jwk, {"kty": "RSA", "kid": "broken", "n": "!", "e": "AQAB"},
        {**rsa_jwk("x"), "kid": 7}, "not an object",
    ]}
    assert sorted(parse_jwks(document)) == ["bare", "good"]


@pytest.mark.parametrize("header,seconds", [
    ("public, max-age=600", 600), ("max-age=0", 0), ("no-cache", 300), (None, 300), ("s-maxage=5, max-age=60", 60),
    ("x-max-age=5", 300),
])
def test_max_age(header: str, seconds: float) -> None:
    assert max_age(header, 300) == seconds


@pytest.mark.parametrize("value,expected", [
    ("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer abc", "abc"), ("BEARER   abc==", "abc=="),
    (["Bearer abc"], "abc"),
])
def test_bearer_token(value, expected: str) -> None:
    assert bearer_token(value) == expected


@pytest.mark.parametrize("value,reason", [
    (None, "missing_token"), ([], "missing_token"), ("Basic dXNlcjpwYXNz", "missing_token"), ("Bearerabc", "missing_token"),
    ("Bearer", "malformed_header"), ("Bearer ", "malformed_header"), ("Bearer a b", "malformed_header"),
    ("Bearer a,b", "malformed_header"), (["Bearer a", "Bearer b"], "malformed_header"), (["Basic x", "Bearer a"], "malformed_header"),
])
def test_bearer_token_refusals(value, reason: str) -> None:
    with pytest.raises(VerifierError) as refused:
        bearer_token(value)
    assert refused.value.reason == reason


def test_the_rfc_6750_rendering() -> None:
    scope = VerifierError("insufficient_scope", "private detail", scope="a b")
    assert (scope.status, scope.error) == (403, "insufficient_scope")
    assert scope.www_authenticate('re"alm') == (
        'Bearer realm="realm", error="insufficient_scope", error_description="The token lacks the scope this resource needs.", scope="a b"')
    assert "private detail" not in json.dumps(scope.body()) and "private detail" in str(scope)
    assert VerifierError("missing_token").www_authenticate("r") == 'Bearer realm="r"'
    assert VerifierError("unavailable").www_authenticate("r") is None
    assert VerifierError("signature").body() == {"error": "invalid_token", "error_description": "The token is invalid."}
    with pytest.raises(ValueError):
        VerifierError("no_such_reason")  # type: ignore[arg-type]


def _principal(**claims: object):
    from authd_verifier import Principal

    base = {"sub": "u1", "client_id": "web", "scope": "read", "roles": ["user"]}
    return Principal.from_claims({**base, **claims}, "token")


def test_step_up_decisions_and_their_challenge() -> None:
    now = 1_800_000_000.0
    assert _principal(acr="aal2", amr=["pwd", "otp", "mfa"], auth_time=now - 300).require_mfa(max_age=300, now=now).amr == ("pwd", "otp", "mfa")
    with pytest.raises(VerifierError) as stale:
        _principal(acr="aal2", auth_time=now - 301).require_mfa(max_age=300, now=now)
    assert (stale.value.reason, stale.value.status, stale.value.error) == ("stale_authentication", 401, "insufficient_user_authentication")
    assert stale.value.www_authenticate("api") == ('Bearer realm="api", error="insufficient_user_authentication", '
                                                   'error_description="More recent authentication is required.", acr_values="aal2", max_age="300"')
    for claims in ({}, {"acr": "aal1"}, {"acr": "AAL2"}):
        with pytest.raises(VerifierError) as refused:
            _principal(**claims).require_mfa(now=now)
        assert refused.value.reason == "insufficient_acr"
        assert refused.value.www_authenticate("api") == ('Bearer realm="api", error="insufficient_user_authentication", '
                                                         'error_description="A different authentication level is required.", acr_values="aal2"')
    assert _principal(acr="aal1").require_acr(["aal1", "aal2"], now=now).acr == "aal1"
    with pytest.raises(ValueError, match="at least one acceptable acr value"):
        _principal(acr="aal1").require_acr([], now=now)


def test_a_clock_tolerance_above_the_rule_sets_skew_is_refused() -> None:
    from authd_verifier import Verifier, rules

    assert Verifier("https://auth.test", "https://api.test", clock_skew_seconds=0).clock_skew_seconds == 0
    with pytest.raises(ValueError, match=f"between 0 and {rules.CLOCK_SKEW_SECONDS} seconds"):
        Verifier("https://auth.test", "https://api.test", clock_skew_seconds=rules.CLOCK_SKEW_SECONDS + 1)


def test_fastapi_step_up_arguments_are_checked() -> None:
    from authd_verifier import Verifier
    from authd_verifier.fastapi import Authd

    authd = Authd(Verifier("https://auth.test", "https://api.test"))
    with pytest.raises(ValueError, match="whole number of seconds"):
        authd.require_mfa(max_age=-1)
    with pytest.raises(ValueError, match="at least one acceptable acr value"):
        authd.require_acr([])
