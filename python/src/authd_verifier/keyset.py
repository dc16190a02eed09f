"""authd's JWKS, cached in memory.

The set is kept for the max-age authd sends. A kid it does not hold causes at most one refetch
per cooldown, so random kids cannot make a service hammer authd, and a key rotation at authd
reaches every service without a restart. Concurrent callers — threads or tasks — share one
fetch. Keys missing from a refetched set are gone: the set is replaced, never merged.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Dict, Iterator, Optional, Tuple

from jwt.algorithms import RSAAlgorithm

from . import _http, rules

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age=(\d+)", re.IGNORECASE)
_MIN_RSA_BITS = 2048


class _Flight:
    """One fetch under way; blocking waiters use the event, tasks of the owning loop the future."""

    def __init__(self, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        self.done = threading.Event()
        self.error: Optional[BaseException] = None
        self.loop = loop
        self.future: Optional["asyncio.Future[None]"] = loop.create_future() if loop else None

    def finish(self, error: Optional[BaseException]) -> None:
        self.error = error
        self.done.set()
        if self.future is not None and not self.future.done():
            self.future.set_result(None)

    def wait(self, timeout: float) -> None:
        self.done.wait(timeout)

    async def await_(self, timeout: float) -> None:
        try:
            if self.future is not None and self.loop is asyncio.get_running_loop():
                await asyncio.wait_for(asyncio.shield(self.future), timeout)
            else:
                await asyncio.get_running_loop().run_in_executor(None, self.done.wait, timeout)
        except asyncio.TimeoutError:
            pass  # the caller reads whatever set there is


def parse_jwks(document: Any) -> Dict[str, Any]:
    """The RS256 signing keys of a JWKS by kid; anything else in the set is ignored, never trusted."""
    keys: Dict[str, Any] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise _http.FetchError("the JWKS has no keys array")
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        try:
            key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]})  # type: ignore[no-untyped-call]
        except Exception:  # a malformed key: skip it, the others still verify
            continue
        if key.key_size >= _MIN_RSA_BITS:
            keys[jwk["kid"]] = key
    return keys


def max_age(cache_control: Optional[str], default: float) -> float:
    found = _MAX_AGE.search(cache_control or "")
    return float(found.group(1)) if found else default


class KeySet:
    def __init__(
        self,
        resolve_uri: Callable[[], str],
        aresolve_uri: Callable[[], Awaitable[str]],
        *,
        cooldown_seconds: float = rules.JWKS_REFETCH_COOLDOWN_SECONDS,
        default_max_age_seconds: float = 300,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._resolve_uri = resolve_uri
        self._aresolve_uri = aresolve_uri
        self._cooldown = cooldown_seconds
        self._default_max_age = default_max_age_seconds
        self._timeout = timeout_seconds
        self._now = clock
        self._lock = threading.Lock()
        self._keys: Dict[str, Any] = {}
        self._expires_at = float("-inf")
        self._last_fetch = float("-inf")
        self._flight: Optional[_Flight] = None
        self.fetches = 0

    # -- blocking callers -------------------------------------------------------------------

    def key(self, kid: str) -> Optional[Any]:
        """The public key for kid, or None when authd does not publish it (after the refetch rules)."""
        if self._now() >= self._expires_at:
            try:
                self.refresh()
            except _http.FetchError:
                if not self._keys:  # a stale set is better than none while authd is briefly away
                    raise
        found = self._keys.get(kid)
        if found is not None:
            return found
        flight, owner = self._join_or_start(for_unknown_kid=True, loop=None)
        if flight is None:
            return self._lookup_after_refetch(kid)
        if owner:
            self._fetch_as_owner(flight)
        else:
            flight.wait(self._timeout + 1)  # its error, if any, was reported to its owner
        return self._lookup_after_refetch(kid)

    def refresh(self) -> None:
        """Fetches the set now (or waits for the fetch already under way)."""
        flight, owner = self._join_or_start(for_unknown_kid=False, loop=None)
        assert flight is not None
        if owner:
            self._fetch_as_owner(flight)
            return
        flight.wait(self._timeout + 1)
        if flight.error is not None:
            raise _http.FetchError(str(flight.error))

    def _fetch_as_owner(self, flight: _Flight) -> None:
        with self._owning(flight):
            self._install(_http.request(self._resolve_uri(), self._timeout))

    # -- event loops ------------------------------------------------------------------------

    async def akey(self, kid: str) -> Optional[Any]:
        if self._now() >= self._expires_at:
            try:
                await self.arefresh()
            except _http.FetchError:
                if not self._keys:
                    raise
        found = self._keys.get(kid)
        if found is not None:
            return found
        flight, owner = self._join_or_start(for_unknown_kid=True, loop=asyncio.get_running_loop())
        if flight is None:
            return self._lookup_after_refetch(kid)
        if owner:
            await self._afetch_as_owner(flight)
        else:
            await flight.await_(self._timeout + 1)
        return self._lookup_after_refetch(kid)

    async def arefresh(self) -> None:
        flight, owner = self._join_or_start(for_unknown_kid=False, loop=asyncio.get_running_loop())
        assert flight is not None
        if owner:
            await self._afetch_as_owner(flight)
            return
        await flight.await_(self._timeout + 1)
        if flight.error is not None:
            raise _http.FetchError(str(flight.error))

    async def _afetch_as_owner(self, flight: _Flight) -> None:
        with self._owning(flight):
            self._install(await _http.arequest(await self._aresolve_uri(), self._timeout))

    # -- shared state -----------------------------------------------------------------------

    def _lookup_after_refetch(self, kid: str) -> Optional[Any]:
        if not self._keys:
            # Never fetched successfully: that is authd being unreachable, not an unknown key.
            raise _http.FetchError("no signing keys could be fetched")
        return self._keys.get(kid)

    def _join_or_start(self, *, for_unknown_kid: bool,
                       loop: Optional[asyncio.AbstractEventLoop]) -> Tuple[Optional[_Flight], bool]:
        """(flight, True) to fetch, (flight, False) to wait for one, (None, False) in the cooldown."""
        with self._lock:
            if self._flight is not None:
                return self._flight, False
            if for_unknown_kid and self._now() - self._last_fetch < self._cooldown:
                return None, False
            self._flight = _Flight(loop)
            self._last_fetch = self._now()
            self.fetches += 1
            return self._flight, True

    def _install(self, answer: _http.Response) -> None:
        keys = parse_jwks(answer.json())
        with self._lock:
            self._keys = keys
            self._expires_at = self._now() + max_age(answer.headers.get("cache-control"), self._default_max_age)

    @contextmanager
    def _owning(self, flight: _Flight) -> Iterator[None]:
        """Lands the flight whatever happens, with the error (if any) its waiters should see."""
        error: Optional[BaseException] = None
        try:
            yield
        except BaseException as caught:
            error = caught
            raise
        finally:
            self._land(flight, error)

    def _land(self, flight: _Flight, error: Optional[BaseException]) -> None:
        with self._lock:
            if isinstance(error, Exception):
                # Do not retry on every request while authd is unreachable.
                self._expires_at = self._now() + self._cooldown
            self._flight = None
        flight.finish(error)

    def stats(self) -> Dict[str, Any]:
        return {"kids": sorted(self._keys), "expires_at": self._expires_at, "last_fetch": self._last_fetch,
                "fetches": self.fetches}
