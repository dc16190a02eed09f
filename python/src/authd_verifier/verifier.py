"""The framework-free verifier: the rule set of spec/verifier-cases.json, blocking and async."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence, Union

from jwt.algorithms import RSAAlgorithm

from . import _http, rules
from .errors import VerifierError
from .keyset import KeySet
from .metadata import Metadata
from .principal import Principal
from .revocation import RevocationCheck
from .token import ParsedToken, check_claims, parse, tolerance_of

_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)  # type: ignore[no-untyped-call]


class Verifier:
    """Verifies authd's access tokens for one service (one instance per process is enough).

    ``issuer`` is authd's AUTHD_ISSUER; ``audience`` the aud authd puts in this service's
    tokens (one of several may match). ``jwks_uri`` skips discovery. ``revocation`` is opt-in:
    a RedisRevocation or an IntrospectionRevocation. ``clock`` (seconds) is for tests.
    Thread-safe; ``verify`` blocks, ``averify`` is for event loops. Both raise VerifierError.
    """

    def __init__(
        self,
        issuer: str,
        audience: Union[str, Sequence[str]],
        *,
        jwks_uri: Optional[str] = None,
        clock_skew_seconds: float = rules.CLOCK_SKEW_SECONDS,
        jwks_cooldown_seconds: float = rules.JWKS_REFETCH_COOLDOWN_SECONDS,
        jwks_default_max_age_seconds: float = 300,
        timeout_seconds: float = 5.0,
        revocation: Optional[RevocationCheck] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not self.audiences:
            raise ValueError("audience must name at least one audience")
        self.clock_skew_seconds = tolerance_of(clock_skew_seconds)
        self.revocation = revocation
        self.metadata = Metadata(self.issuer, timeout_seconds)
        self._clock = clock

        def resolve() -> str:
            return jwks_uri or self.metadata.field("jwks_uri")

        async def aresolve() -> str:
            return jwks_uri or await self.metadata.afield("jwks_uri")

        self.keys = KeySet(resolve, aresolve, cooldown_seconds=jwks_cooldown_seconds,
                           default_max_age_seconds=jwks_default_max_age_seconds,
                           timeout_seconds=timeout_seconds, clock=clock)

    def now(self) -> float:
        """The verifier's clock (seconds), which require_acr's max_age reads too."""
        return self._clock()

    @property
    def realm(self) -> str:
        return self.audiences[0]

    def verify(self, token: str) -> Principal:
        parsed = parse(token)
        try:
            key = self.keys.key(parsed.kid)
        except _http.FetchError as error:
            raise VerifierError("unavailable", f"the signing keys could not be fetched: {error}") from None
        self._check(parsed, key)
        if self.revocation is not None:
            self.revocation.check(parsed, self.metadata)
        return Principal.from_claims(parsed.claims, token)

    async def averify(self, token: str) -> Principal:
        parsed = parse(token)
        try:
            key = await self.keys.akey(parsed.kid)
        except _http.FetchError as error:
            raise VerifierError("unavailable", f"the signing keys could not be fetched: {error}") from None
        self._check(parsed, key)
        if self.revocation is not None:
            await self.revocation.acheck(parsed, self.metadata)
        return Principal.from_claims(parsed.claims, token)

    def _check(self, parsed: ParsedToken, key: Any) -> None:
        if key is None:
            raise VerifierError("unknown_key", f"kid {parsed.kid!r} is not in the JWKS")
        if not _RS256.verify(parsed.signing_input, key, parsed.signature):  # type: ignore[no-untyped-call]
            raise VerifierError("signature", "the signature does not verify")
        check_claims(parsed.claims, issuer=self.issuer, audiences=self.audiences, now=self._clock(),
                     skew=self.clock_skew_seconds)
