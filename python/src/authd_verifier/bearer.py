"""RFC 6750 §2.1: the token of an ``Authorization: Bearer <token>`` header."""

from __future__ import annotations

import re
from typing import Sequence, Union

from .errors import VerifierError

_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)
_SCHEME = re.compile(r"^bearer(?: |$)", re.IGNORECASE)


def bearer_token(authorization: Union[None, str, Sequence[str]]) -> str:
    """The token, or VerifierError: missing_token when there is none (no header, another scheme
    such as Basic), malformed_header when a Bearer header is not exactly ``Bearer <token>``.
    Pass every Authorization header the request carried (a list) to refuse duplicates."""
    values = [authorization] if isinstance(authorization, str) else list(authorization or [])
    bearers = [v.strip() for v in values if _SCHEME.match(v.strip())]
    if not bearers:
        raise VerifierError("missing_token", "no bearer token")
    if len(values) > 1:
        raise VerifierError("malformed_header", "more than one Authorization header")
    match = _BEARER.match(bearers[0])
    if match is None:
        raise VerifierError("malformed_header", "not Bearer <token>")
    return match.group(1)
