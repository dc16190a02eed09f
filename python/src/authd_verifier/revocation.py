"""Opt-in revocation checks, both failing closed unless told otherwise.

RedisRevocation reads authd's revocation index (the layout of src/revocation/redis-keys.ts, in
one MGET); IntrospectionRevocation asks authd's RFC 7662 endpoint, with a short cache.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from . import _http
from .errors import VerifierError
from .metadata import Metadata
from .token import ParsedToken

# Every key carries the hash tag {rv}, so in Redis Cluster one MGET stays on one node.
EPOCH_KEY = "{rv}:epoch"


def revocation_key(kind: str, subject: str) -> str:
    """kind is jti, sid, user or kid."""
    return "{rv}:" + kind + ":" + subject


class RevocationCheck(Protocol):
    def check(self, token: ParsedToken, metadata: Metadata) -> None:
        """Raises VerifierError (revoked, key_revoked or unavailable), else returns."""

    async def acheck(self, token: ParsedToken, metadata: Metadata) -> None:
        ...


def _text(value: Any) -> Optional[str]:
    return value.decode() if isinstance(value, bytes) else value


def issued_before_revocation(iat_seconds: float, revoked_at_ms: str) -> bool:
    """A user's not-before counts whole seconds, as iat does: a token of the same second is revoked too."""
    try:
        return iat_seconds <= int(float(revoked_at_ms)) // 1000
    except ValueError:
        return True  # an unreadable entry: refuse rather than guess


class RedisRevocation:
    """authd's Redis index: epoch, jti, sid, user not-before and revoked kid, in one MGET.

    ``client`` is a redis-py client, blocking (``redis.Redis``, for Verifier.verify) or asyncio
    (``redis.asyncio.Redis``, for averify); give it short timeouts (``from_url`` does). The
    epoch key says the index is complete: without it (a flush, a restart before authd re-seeded)
    the answer would be unreliable, so the request is refused like an unreachable Redis.
    """

    def __init__(self, client: Any, *, key_prefix: str = "authd:", fail_open: bool = False) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.fail_open = fail_open

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str = "authd:", fail_open: bool = False,
                 asyncio_client: bool = False, timeout_seconds: float = 1.0) -> "RedisRevocation":
        """A client of its own with bounded timeouts (redis-py: pip extra ``redis``)."""
        if asyncio_client:
            from redis.asyncio import Redis as AsyncRedis  # type: ignore[import]
            client: Any = AsyncRedis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
        else:
            from redis import Redis  # type: ignore[import]
            client = Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
        return cls(client, key_prefix=key_prefix, fail_open=fail_open)

    def keys(self, token: ParsedToken) -> List[str]:
        claims = token.claims
        names = [
            EPOCH_KEY,
            revocation_key("jti", claims["jti"]),
            revocation_key("sid", claims.get("sid") or "-"),
            revocation_key("user", claims["sub"]),
            revocation_key("kid", token.kid),
        ]
        return [self.key_prefix + name for name in names]

    @property
    def _asyncio_client(self) -> bool:
        return inspect.iscoroutinefunction(getattr(self.client, "execute_command", None))

    def check(self, token: ParsedToken, metadata: Metadata) -> None:
        if self._asyncio_client:
            raise TypeError("an asyncio Redis client needs Verifier.averify")
        try:
            values = self.client.mget(self.keys(token))
        except Exception as error:  # redis-py's ConnectionError/TimeoutError, OSError…
            self._unavailable(f"the revocation store is unreachable: {error}")
            return
        self._judge(values, token)

    async def acheck(self, token: ParsedToken, metadata: Metadata) -> None:
        keys = self.keys(token)
        try:
            if self._asyncio_client:
                values = await self.client.mget(keys)
            else:  # a blocking client: keep it off the event loop
                values = await asyncio.get_running_loop().run_in_executor(None, self.client.mget, keys)
        except Exception as error:
            self._unavailable(f"the revocation store is unreachable: {error}")
            return
        self._judge(values, token)

    def _unavailable(self, detail: str) -> None:
        if not self.fail_open:
            raise VerifierError("unavailable", detail)

    def _judge(self, values: Sequence[Any], token: ParsedToken) -> None:
        epoch, jti, sid, user, kid = (_text(v) for v in values)
        if epoch is None:
            self._unavailable("the revocation index is being rebuilt")
            return
        if kid is not None:
            raise VerifierError("key_revoked", f"kid {token.kid} revoked")
        claims = token.claims
        if jti is not None or ("sid" in claims and sid is not None):
            raise VerifierError("revoked", "jti or session revoked")
        if user is not None and issued_before_revocation(claims["iat"], user):
            raise VerifierError("revoked", "issued before the user's not-before")


class IntrospectionRevocation:
    """authd's introspection endpoint (RFC 7662), as a client created with ``--introspect``.

    An active answer is reused for ``cache_seconds``; an inactive one is final and kept until the
    token's exp. ``endpoint`` defaults to the metadata's introspection_endpoint.
    """

    def __init__(self, client_id: str, client_secret: str, *, endpoint: Optional[str] = None,
                 cache_seconds: float = 30, fail_open: bool = False, timeout_seconds: float = 3.0,
                 clock: Callable[[], float] = time.time, max_entries: int = 10_000) -> None:
        self.endpoint = endpoint
        self.cache_seconds = cache_seconds
        self.fail_open = fail_open
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.max_entries = max_entries
        # RFC 6749 §2.3.1: each part form-encoded before the Basic encoding.
        pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
        self._authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        self._cache: Dict[str, Tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def _settled(self, token: ParsedToken) -> bool:
        """True when a cached answer says active; raises when it says inactive; False without one."""
        with self._lock:
            entry = self._cache.get(token.claims["jti"])
        if entry is None or entry[1] <= self.clock():
            return False
        if not entry[0]:
            raise VerifierError("revoked", "introspection said inactive (cached)")
        return True

    def _remember(self, token: ParsedToken, active: bool) -> None:
        until = min(self.clock() + self.cache_seconds, token.claims["exp"]) if active else token.claims["exp"]
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()  # a bound, not an LRU: simple and enough
            self._cache[token.claims["jti"]] = (active, until)

    def _request(self, token: ParsedToken) -> Dict[str, Any]:
        return {"form": {"token": token.raw, "token_type_hint": "access_token"},
                "headers": {"authorization": self._authorization}}

    def _judge(self, token: ParsedToken, answer: Optional[_http.Response], failure: Optional[Exception]) -> None:
        active = False
        if failure is None and answer is not None:
            try:
                active = answer.json().get("active") is True
            except (_http.FetchError, AttributeError) as error:
                failure = error
        if failure is not None:
            if not self.fail_open:
                raise VerifierError("unavailable", f"the introspection endpoint failed: {failure}")
            return
        self._remember(token, active)
        if not active:
            raise VerifierError("revoked", "introspection says inactive")

    def check(self, token: ParsedToken, metadata: Metadata) -> None:
        if self._settled(token):
            return
        try:
            endpoint = self.endpoint or metadata.field("introspection_endpoint")
            answer = _http.request(endpoint, self.timeout_seconds, **self._request(token))
        except _http.FetchError as error:
            return self._judge(token, None, error)
        self._judge(token, answer, None)

    async def acheck(self, token: ParsedToken, metadata: Metadata) -> None:
        if self._settled(token):
            return
        try:
            endpoint = self.endpoint or await metadata.afield("introspection_endpoint")
            answer = await _http.arequest(endpoint, self.timeout_seconds, **self._request(token))
        except _http.FetchError as error:
            return self._judge(token, None, error)
        self._judge(token, answer, None)
