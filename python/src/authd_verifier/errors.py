"""One exception type for every refusal, with a stable reason code and its RFC 6750 answer."""

from __future__ import annotations

from typing import Dict, FrozenSet, Literal, Optional, get_args

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
    "unavailable": "Token verification is unavailable.",
}


class VerifierError(Exception):
    """Why a request was refused.

    ``reason`` is the stable code; ``status`` and ``error`` are the RFC 6750 answer (``error`` is
    None for a request without a token, §3.1); ``description`` is safe to send; ``detail`` (also
    the exception message) is for logs only.
    """

    reason: Reason
    status: int
    error: Optional[str]
    description: str
    scope: Optional[str]
    detail: str

    def __init__(self, reason: Reason, detail: str = "", *, scope: Optional[str] = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail or reason
        self.scope = scope
        self.description = _DESCRIPTIONS.get(reason, "The token is invalid.")
        if reason == "missing_token":
            self.status, self.error = 401, None
        elif reason == "malformed_header":
            self.status, self.error = 400, "invalid_request"
        elif reason in ("insufficient_scope", "insufficient_role"):
            self.status, self.error = 403, "insufficient_scope"
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
        return "Bearer " + ", ".join(params)

    def body(self) -> Dict[str, str]:
        """The JSON body both kits send: RFC 6749 §5.2-style error and description."""
        if self.status == 503:
            return {"error": "temporarily_unavailable", "error_description": self.description}
        return {"error": self.error or "unauthorized", "error_description": self.description}


def _quote(value: str) -> str:
    # RFC 7230 quoted-string without escapes: drop the two characters that would need one.
    return '"' + value.replace('"', "").replace("\\", "") + '"'
