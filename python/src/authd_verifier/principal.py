"""Who a verified token speaks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple

from .errors import VerifierError

MFA_ACR = "aal2"
"""authd's acr once a second factor was used (NIST SP 800-63B AAL2); password only is "aal1"."""


@dataclass(frozen=True)
class Principal:
    sub: str
    """The user id (or, for client_credentials, the client)."""
    client_id: str
    scopes: Tuple[str, ...]
    roles: Tuple[str, ...]
    sid: Optional[str]
    """The session (refresh-token family); None for machine tokens."""
    acr: Optional[str]
    """The login's assurance level, "aal1" (password) or "aal2" (a second factor); None for machine tokens."""
    amr: Tuple[str, ...]
    """The login's methods (RFC 8176): ("pwd",), ("pwd", "otp", "mfa"), ...; () when the token names none."""
    auth_time: Optional[float]
    """When the user last authenticated interactively (seconds since the epoch); None when the token does not say."""
    claims: Mapping[str, Any]
    token: str = field(repr=False)

    def has_scopes(self, *scopes: str) -> bool:
        return set(scopes) <= set(self.scopes)

    def has_roles(self, *roles: str) -> bool:
        return set(roles) <= set(self.roles)

    def require_scopes(self, *scopes: str) -> "Principal":
        """Itself, or VerifierError insufficient_scope (403, with the scopes in the challenge)."""
        if not self.has_scopes(*scopes):
            raise VerifierError("insufficient_scope", f"needs scopes {list(scopes)}", scope=" ".join(scopes))
        return self

    def require_roles(self, *roles: str) -> "Principal":
        """Itself, or VerifierError insufficient_role (403 insufficient_scope)."""
        if not self.has_roles(*roles):
            raise VerifierError("insufficient_role", f"needs roles {list(roles)}")
        return self

    def require_acr(self, values: Sequence[str], *, max_age: Optional[int] = None, now: float) -> "Principal":
        """Itself, or VerifierError (401 insufficient_user_authentication, RFC 9470 §3): insufficient_acr
        unless acr is one of ``values``; with ``max_age``, stale_authentication unless auth_time is at
        most that many seconds before ``now``. The challenge names acr_values (and max_age)."""
        if not values:
            raise ValueError("require_acr needs at least one acceptable acr value")
        if self.acr is None or self.acr not in values:
            raise VerifierError("insufficient_acr", f"acr {self.acr!r} is not one of {list(values)}",
                                acr_values=values, max_age=max_age)
        if max_age is not None and (self.auth_time is None or now - self.auth_time > max_age):
            raise VerifierError("stale_authentication", f"auth_time {self.auth_time!r} older than {max_age} s",
                                acr_values=values, max_age=max_age)
        return self

    def require_mfa(self, *, max_age: Optional[int] = None, now: float) -> "Principal":
        """require_acr([MFA_ACR]): a login with a second factor."""
        return self.require_acr([MFA_ACR], max_age=max_age, now=now)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str) -> "Principal":
        scope = claims.get("scope")
        roles = claims.get("roles")
        amr = claims.get("amr")
        return cls(
            sub=claims["sub"],
            client_id=claims["client_id"],
            scopes=tuple(s for s in scope.split(" ") if s) if isinstance(scope, str) else (),
            roles=tuple(roles) if isinstance(roles, list) else (),
            sid=claims.get("sid"),
            acr=claims.get("acr"),
            amr=tuple(amr) if isinstance(amr, list) else (),
            auth_time=claims.get("auth_time"),
            claims=claims,
            token=token,
        )
