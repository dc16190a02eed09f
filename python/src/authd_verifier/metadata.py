"""authd's RFC 8414 metadata, read once (a failure is retried at the next use)."""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from . import _http

METADATA_PATH = "/.well-known/oauth-authorization-server"


class Metadata:
    def __init__(self, issuer: str, timeout_seconds: float) -> None:
        self._issuer = issuer
        self._timeout = timeout_seconds
        self._document: Optional[Dict[str, Any]] = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._issuer + METADATA_PATH

    def _accept(self, answer: _http.Response) -> Dict[str, Any]:
        document = answer.json()
        if not isinstance(document, dict) or document.get("issuer") != self._issuer:
            # RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
            raise _http.FetchError(f"the metadata at {self.url} names another issuer")
        with self._lock:
            self._document = document
        return document

    def field(self, name: str) -> str:
        document = self._document or self._accept(_http.request(self.url, self._timeout))
        return self._pick(document, name)

    async def afield(self, name: str) -> str:
        document = self._document or self._accept(await _http.arequest(self.url, self._timeout))
        return self._pick(document, name)

    def _pick(self, document: Dict[str, Any], name: str) -> str:
        value = document.get(name)
        if not isinstance(value, str):
            raise _http.FetchError(f"the metadata has no {name}")
        return value
