"""Reading a compact JWS and checking its header and claims against the rule set.

The signature itself is checked by the caller with the key the header names; everything here is
pure (no I/O, the time is passed in), in the order spec/verifier-cases.json's reasons imply.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from . import rules
from .errors import VerifierError

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ParsedToken:
    raw: str
    header: Dict[str, Any]
    claims: Dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str:
        return str(self.header["kid"])


def _decode_segment(segment: str) -> bytes:
    if not _SEGMENT.match(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _decode_object(segment: str) -> Dict[str, Any]:
    value = json.loads(_decode_segment(segment))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def parse(token: str) -> ParsedToken:
    """Splits and decodes the token; refuses anything that is not an RS256 at+jwt with a plain header."""
    if len(token) > rules.MAX_TOKEN_LENGTH:
        raise VerifierError("too_long", f"{len(token)} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise VerifierError("malformed", "not a compact JWS")
    try:
        header = _decode_object(parts[0])
        claims = _decode_object(parts[1])
        signature = _decode_segment(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise VerifierError("malformed", f"undecodable: {error}") from None
    if header.get("alg") not in rules.ALGORITHMS:
        raise VerifierError("algorithm", f"alg {header.get('alg')!r}")
    if header.get("typ") != rules.TYP:
        raise VerifierError("type", f"typ {header.get('typ')!r}")
    extra = sorted(set(header) - rules.HEADER_ALLOWLIST)
    if extra:
        raise VerifierError("header", f"header parameters {extra}")
    if not isinstance(header.get("kid"), str):
        raise VerifierError("unknown_key", "no kid")
    return ParsedToken(token, header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_string(value: Any) -> bool:
    return isinstance(value, str) and value != ""


_CLAIM_TYPES: Dict[str, Callable[[Any], bool]] = {
    "iss": _is_string,
    "sub": _is_string,
    "aud": lambda v: _is_string(v) or (isinstance(v, list) and len(v) > 0 and all(_is_string(a) for a in v)),
    "exp": _is_number,
    "iat": _is_number,
    "jti": _is_string,
    "client_id": _is_string,
}
# Optional claims, checked only when present.
_OPTIONAL_TYPES: Dict[str, Callable[[Any], bool]] = {
    "nbf": _is_number,
    "sid": _is_string,
    "scope": lambda v: isinstance(v, str),
    "roles": lambda v: isinstance(v, list) and all(isinstance(r, str) for r in v),
    # RFC 9470 §4 / RFC 8176: what step-up (require_acr) reads.
    "acr": _is_string,
    "amr": lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v),
    "auth_time": _is_number,
}


def tolerance_of(seconds: float) -> float:
    """A clock tolerance between 0 and the rule set's skew: authd keeps revocations only that long past exp."""
    if not 0 <= seconds <= rules.CLOCK_SKEW_SECONDS:
        raise ValueError(f"a clock tolerance must lie between 0 and {rules.CLOCK_SKEW_SECONDS} seconds, not {seconds}")
    return seconds


def check_claims(claims: Mapping[str, Any], *, issuer: str, audiences: Sequence[str], now: float,
                 skew: float) -> None:
    """Required claims and every known claim's type, then iss, aud, exp, and nbf/iat/auth_time not in
    the future (RFC 9068 §4, RFC 7519 §4.1)."""
    for name in rules.REQUIRED_CLAIMS:
        if name not in claims or not _CLAIM_TYPES[name](claims[name]):
            raise VerifierError("claims", f"{name} missing or of the wrong type")
    for name, valid in _OPTIONAL_TYPES.items():
        if name in claims and not valid(claims[name]):
            raise VerifierError("claims", f"{name} of the wrong type")
    if claims["iss"] != issuer:
        raise VerifierError("issuer", f"iss {claims['iss']!r}")
    token_audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(a in audiences for a in token_audiences):
        raise VerifierError("audience", f"aud {claims['aud']!r}")
    if claims["exp"] <= now - skew:
        raise VerifierError("expired", f"exp {claims['exp']}")
    for name in ("nbf", "iat", "auth_time"):
        value: Optional[float] = claims.get(name)
        if value is not None and value > now + skew:
            raise VerifierError("not_yet_valid", f"{name} {value}")
