"""Small bounded HTTP helpers: the standard library for blocking callers, httpx (when installed)
for event loops. Every call has a total deadline and a size cap, so a slow or hostile endpoint
cannot hold a request or fill memory."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

MAX_BODY_BYTES = 1 << 20


class FetchError(Exception):
    """The endpoint could not be reached or gave no usable answer."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        if self.status != 200:
            raise FetchError(f"answered {self.status}")
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise FetchError("answered with invalid JSON") from error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # authd answers in place; a redirect is a misconfiguration, not something to follow with keys.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _encode(form: Optional[Mapping[str, str]]) -> Optional[bytes]:
    return urllib.parse.urlencode(form).encode() if form is not None else None


def request(url: str, timeout: float, *, form: Optional[Mapping[str, str]] = None,
            headers: Optional[Mapping[str, str]] = None) -> Response:
    """GET (or POST a form to) url, blocking for at most timeout seconds in total."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"not an http(s) URL: {url!r}")
    all_headers = {"accept": "application/json", **(headers or {})}
    if form is not None:
        all_headers["content-type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=_encode(form), headers=all_headers, method="POST" if form is not None else "GET")
    deadline = time.monotonic() + timeout
    try:
        with _opener.open(req, timeout=timeout) as answer:
            status, answer_headers = answer.status, answer.headers
            body = _read_bounded(answer, deadline)
    except urllib.error.HTTPError as error:
        status, answer_headers, body = error.code, error.headers, b""
    except (OSError, ValueError) as error:  # URLError, timeouts, refused connections, bad URLs
        raise FetchError(str(error)) from error
    return Response(status, {k.lower(): v for k, v in answer_headers.items()}, body)


def _read_bounded(answer: Any, deadline: float) -> bytes:
    chunks: List[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise FetchError("timed out reading the answer")
        chunk = answer.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise FetchError("answer too large")
        chunks.append(chunk)


async def arequest(url: str, timeout: float, *, form: Optional[Mapping[str, str]] = None,
                   headers: Optional[Mapping[str, str]] = None) -> Response:
    """The same for event loops: httpx.AsyncClient when httpx is installed, else a worker thread."""
    try:
        import httpx
    except ImportError:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: request(url, timeout, form=form, headers=headers))
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"not an http(s) URL: {url!r}")
    try:
        return await asyncio.wait_for(_ahttpx(httpx, url, timeout, form, headers), timeout)
    except asyncio.TimeoutError as error:
        raise FetchError("timed out") from error
    except httpx.HTTPError as error:
        raise FetchError(str(error) or type(error).__name__) from error


async def _ahttpx(httpx: Any, url: str, timeout: float, form: Optional[Mapping[str, str]],
                  headers: Optional[Mapping[str, str]]) -> Response:
    all_headers = {"accept": "application/json", **(headers or {})}
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        method = "POST" if form is not None else "GET"
        async with client.stream(method, url, data=form, headers=all_headers) as answer:
            chunks: List[bytes] = []
            size = 0
            async for chunk in answer.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise FetchError("answer too large")
                chunks.append(chunk)
            return Response(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, b"".join(chunks))
