"""One exception type for every refusal, with a stable reason code and its RFC 6750 answer."""

from __future__ import annotations

from typing import Dict, FrozenSet, Literal, Optional, Sequence, get_args

# The codes of spec/verifier-cases.json ("reasons"): what a service logs or branches on.
Reason = Literal[
    "missing_token",
    "malformed_header",
    "malformed",
    "too_long",
    "algorithm",
    "type",
    "header",
    "unknown_key",
    "key_revoked",
    "signature",
    "issuer",
    "audience",
    "expired",
    "not_yet_valid",
    "claims",
    "revoked",
    "insufficient_scope",
    "insufficient_role",
    "insufficient_acr",
    "stale_authentication",
    "unavailable",
]

REASONS: FrozenSet[str] = frozenset(get_args(Reason))

# The public error_description per answer: it says no more than the RFC 6750 code does, except
# that an expired token says so (clients refresh on it). The detail goes to logs, never the wire.
_DESCRIPTIONS = {
    "missing_token": "Authentication required.",
    "malformed_header": 'The Authorization header must be "Bearer <token>".',
    "expired": "The token has expired.",
    "insufficient_scope": "The token lacks the scope this resource needs.",
    "insufficient_role": "The caller lacks the role this resource needs.",
    "insufficient_acr": "A different authentication level is required.",
    "stale_authentication": "More recent authentication is required.",
    "unavailable": "Token verification is unavailable.",
}


class VerifierError(Exception):
    """Why a request was refused.

    ``reason`` is the stable code; ``status`` and ``error`` are the RFC 6750 answer (``error`` is
    None for a request without a token, §3.1); ``description`` is safe to send; ``detail`` (also
    the exception message) is for logs only. ``acr_values`` and ``max_age`` are the RFC 9470
    step-up challenge of an insufficient_user_authentication answer.
    """

    reason: Reason
    status: int
    error: Optional[str]
    description: str
    scope: Optional[str]
    acr_values: Optional[Sequence[str]]
    max_age: Optional[int]
    detail: str

    def __init__(self, reason: Reason, detail: str = "", *, scope: Optional[str] = None,
                 acr_values: Optional[Sequence[str]] = None, max_age: Optional[int] = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail or reason
        self.scope = scope
        self.acr_values = tuple(acr_values) if acr_values is not None else None
        self.max_age = max_age
        self.description = _DESCRIPTIONS.get(reason, "The token is invalid.")
        if reason == "missing_token":
            self.status, self.error = 401, None
        elif reason == "malformed_header":
            self.status, self.error = 400, "invalid_request"
        elif reason in ("insufficient_scope", "insufficient_role"):
            self.status, self.error = 403, "insufficient_scope"
        elif reason in ("insufficient_acr", "stale_authentication"):
            self.status, self.error = 401, "insufficient_user_authentication"
        elif reason == "unavailable":
            self.status, self.error = 503, None
        else:
            self.status, self.error = 401, "invalid_token"

    def www_authenticate(self, realm: str) -> Optional[str]:
        """The RFC 6750 §3 challenge for this answer (None for 503, which is not about the token)."""
        if self.status == 503:
            return None
        params = [f"realm={_quote(realm)}"]
        if self.error:
            params += [f"error={_quote(self.error)}", f"error_description={_quote(self.description)}"]
        if self.scope:
            params.append(f"scope={_quote(self.scope)}")
        if self.acr_values is not None:
            params.append(f"acr_values={_quote(' '.join(self.acr_values))}")
            if self.max_age is not None:
                params.append(f"max_age={_quote(str(self.max_age))}")
        return "Bearer " + ", ".join(params)

    def body(self) -> Dict[str, str]:
        """The JSON body both kits send: RFC 6749 §5.2-style error and description."""
        if self.status == 503:
            return {"error": "temporarily_unavailable", "error_description": self.description}
        return {"error": self.error or "unauthorized", "error_description": self.description}


def _quote(value: str) -> str:
    # RFC 7230 quoted-string without escapes: drop the two characters that would need one.
    return '"' + value.replace('"', "").replace("\\", "") + '"'
