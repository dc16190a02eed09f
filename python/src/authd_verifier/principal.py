"""Who a verified token speaks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

from .errors import VerifierError


@dataclass(frozen=True)
class Principal:
    sub: str
    """The user id (or, for client_credentials, the client)."""
    client_id: str
    scopes: Tuple[str, ...]
    roles: Tuple[str, ...]
    sid: Optional[str]
    """The session (refresh-token family); None for machine tokens."""
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

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str) -> "Principal":
        scope = claims.get("scope")
        roles = claims.get("roles")
        return cls(
            sub=claims["sub"],
            client_id=claims["client_id"],
            scopes=tuple(s for s in scope.split(" ") if s) if isinstance(scope, str) else (),
            roles=tuple(roles) if isinstance(roles, list) else (),
            sid=claims.get("sid"),
            claims=claims,
            token=token,
        )
