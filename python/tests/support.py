"""Test helpers: forged tokens, a counting proxy in front of authd, the spec's cases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Set

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from authd_server import AUDIENCE, Authd, decode_unverified

_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)
FOREIGN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def now_offset(value: Any, now: int) -> Any:
    """"now-31" / "now+120" from the spec → seconds since the epoch."""
    if isinstance(value, str) and value.startswith("now"):
        return now + int(value[3:] or 0)
    return value


def sign(header: Dict[str, Any], claims: Dict[str, Any], how: str, authd: Authd) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    if how == "none":
        return signing_input + "."
    if how == "hs256-with-public-key":
        # The classic confusion attack: HMAC keyed with the PEM of authd's public key.
        public_pem = serialization.load_pem_private_key(authd.private_key_pem(authd.signing_kid()), None).public_key() \
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    if how == "authd-key":
        key = serialization.load_pem_private_key(authd.private_key_pem(authd.signing_kid()), None)
    elif how in ("foreign-key", "foreign-key-authd-kid"):
        key = FOREIGN_KEY
    else:
        raise ValueError(f"unknown signing mode {how!r}")
    return signing_input + "." + b64(_RS256.sign(signing_input.encode(), key))


def foreign_public_jwk() -> Dict[str, Any]:
    return json.loads(RSAAlgorithm.to_jwk(FOREIGN_KEY.public_key()))


def forge(authd: Authd, header: Optional[Dict[str, Any]] = None, claims: Optional[Dict[str, Any]] = None,
          how: str = "authd-key") -> str:
    """A token shaped like authd's (bob's access token), with the spec's overrides applied."""
    now = int(time.time())
    base_header: Dict[str, Any] = {"alg": "RS256", "typ": "at+jwt", "kid": authd.signing_kid()}
    base_claims: Dict[str, Any] = {
        "iss": authd.issuer, "sub": authd.users["bob"].id, "aud": AUDIENCE, "exp": now + 300, "iat": now,
        "jti": str(uuid.uuid4()), "client_id": "agents-web", "scope": "agents:read", "roles": ["user"],
        "sid": str(uuid.uuid4()),
    }
    for target, overrides in ((base_header, header or {}), (base_claims, claims or {})):
        for name, value in overrides.items():
            if value is None:
                target.pop(name, None)
            elif value == "foreign-public":
                target[name] = foreign_public_jwk()
            else:
                target[name] = now_offset(value, now)
    return sign(base_header, base_claims, how, authd)


def tamper(token: str, changes: Dict[str, Any]) -> str:
    header, payload, signature = token.split(".")
    claims = decode_unverified(token)["payload"]
    claims.update(changes)
    return f"{header}.{b64json(claims)}.{signature}"


def pad(token: str, length: int) -> str:
    """Longer than the cap, still three base64url segments."""
    return token + "A" * (length - len(token))


class Proxy:
    """A real HTTP server in front of authd that counts requests per path, and can slow them
    down, fail them, or drop kids from the JWKS it passes on (authd "forgetting" a key)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.hits: Dict[str, int] = {}
        self.delay = 0.0
        self.fail = False
        self.drop_kids: Set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                proxy._forward(self, self.rfile.read(length))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def _forward(self, handler: BaseHTTPRequestHandler, body: Optional[bytes]) -> None:
        with self._lock:
            self.hits[handler.path] = self.hits.get(handler.path, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            handler.send_response(502)
            handler.send_header("content-length", "0")
            handler.end_headers()
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        request = urllib.request.Request(self.upstream + handler.path, data=body, headers=headers,
                                         method=handler.command)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, answer_headers, payload = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, payload = error.code, error.headers, error.read()
        if self.drop_kids and handler.path.endswith("/jwks.json"):
            document = json.loads(payload)
            document["keys"] = [k for k in document["keys"] if k.get("kid") not in self.drop_kids]
            payload = json.dumps(document).encode()
        handler.send_response(status)
        for name in ("content-type", "cache-control"):
            if answer_headers.get(name):
                handler.send_header(name, answer_headers[name])
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """The verifier's clock: real time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def dead_url() -> str:
    """A loopback port nothing listens on."""
    from authd_server import free_port

    return f"127.0.0.1:{free_port()}"
