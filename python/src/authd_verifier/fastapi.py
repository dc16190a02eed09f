"""FastAPI dependencies for authd's access tokens.

    from fastapi import Depends, FastAPI, Security
    from authd_verifier.fastapi import Authd, Principal

    authd = Authd(issuer="https://auth.example.com", audience="https://agents.example.com")
    app = FastAPI()

    @app.post("/agents/{agent_id}/runs")
    async def run(agent_id: str, who: Principal = Depends(authd.require_scope("agents:execute"))):
        ...

``Depends(authd.require_auth)`` for any valid token, ``authd.require_scope(...)``,
``authd.require_role(...)``, or FastAPI's own idiom ``Security(authd.require_auth, scopes=[...])``.
Step-up (RFC 9470): ``authd.require_mfa(max_age=300)`` or ``authd.require_acr(["aal2"])`` answer
401 ``insufficient_user_authentication`` with ``acr_values`` (and ``max_age``) in the challenge.
Every route using them shows up in the OpenAPI document behind an OAuth2 password-flow scheme
whose tokenUrl is authd's token endpoint.
"""

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from .bearer import bearer_token
from .errors import VerifierError
from .principal import MFA_ACR, Principal
from .verifier import Verifier

__all__ = ["Authd", "AuthdHTTPException", "Principal"]


class AuthdHTTPException(HTTPException):
    """The RFC 6750 answer for a refused request; ``error.reason`` says why (never sent)."""

    def __init__(self, error: VerifierError, realm: str) -> None:
        headers: Dict[str, str] = {"Cache-Control": "no-store"}
        challenge = error.www_authenticate(realm)
        if challenge:
            headers["WWW-Authenticate"] = challenge
        if error.status == 503:
            headers["Retry-After"] = "5"
        super().__init__(status_code=error.status, detail=error.body(), headers=headers)
        self.error = error
        self.reason = error.reason


class _AuthorizationHeaders(OAuth2PasswordBearer):
    """The OpenAPI security scheme; hands every Authorization header on, unjudged, to require_auth."""

    async def __call__(self, request: Request) -> List[str]:  # type: ignore[override]
        return request.headers.getlist("authorization")


ErrorHook = Callable[[VerifierError, Request], Any]


class Authd:
    """The dependencies for one service. Pass a Verifier, or the Verifier's own arguments.

    ``realm`` (default: the audience) is named in WWW-Authenticate. ``token_url`` (default
    ``<issuer>/oauth/token``) and ``scopes`` (name → description) describe the scheme in the
    OpenAPI document. ``on_error(error, request)`` sees every refusal with its reason code, e.g.
    to log it; the answer itself only carries the RFC 6750 code.
    """

    def __init__(
        self,
        verifier: Optional[Verifier] = None,
        *,
        issuer: Optional[str] = None,
        audience: Union[None, str, Sequence[str]] = None,
        realm: Optional[str] = None,
        token_url: Optional[str] = None,
        scopes: Optional[Mapping[str, str]] = None,
        scheme_name: str = "authd",
        on_error: Optional[ErrorHook] = None,
        **verifier_options: Any,
    ) -> None:
        if verifier is None:
            if issuer is None or audience is None:
                raise TypeError("Authd needs a verifier, or issuer= and audience=")
            verifier = Verifier(issuer, audience, **verifier_options)
        elif verifier_options or issuer or audience:
            raise TypeError("pass either a verifier or its options, not both")
        self.verifier = verifier
        self.realm = realm or verifier.realm
        self.on_error = on_error
        self.scheme = _AuthorizationHeaders(
            tokenUrl=token_url or f"{verifier.issuer}/oauth/token",
            scheme_name=scheme_name,
            scopes=dict(scopes or {}),
            description="An access token from authd (password or client_credentials grant).",
            auto_error=False,
        )
        scheme = self.scheme

        async def require_auth(
            request: Request, security_scopes: SecurityScopes, authorization: List[str] = Depends(scheme)
        ) -> Principal:
            try:
                principal = await self.verifier.averify(bearer_token(authorization))
                principal.require_scopes(*security_scopes.scopes)
            except VerifierError as error:
                raise self._refuse(error, request) from None
            request.state.principal = principal
            return principal

        self.require_auth = require_auth

    def require_scope(self, *scopes: str) -> Callable[..., Any]:
        """A dependency returning the Principal when the token carries every one of these scopes."""

        async def scoped(principal: Principal = Security(self.require_auth, scopes=list(scopes))) -> Principal:
            return principal

        return scoped

    def require_role(self, *roles: str) -> Callable[..., Any]:
        """A dependency returning the Principal when the token's user has every one of these roles."""

        async def with_role(request: Request, principal: Principal = Depends(self.require_auth)) -> Principal:
            try:
                return principal.require_roles(*roles)
            except VerifierError as error:
                raise self._refuse(error, request) from None

        return with_role

    def require_acr(self, values: Sequence[str], *, max_age: Optional[int] = None) -> Callable[..., Any]:
        """A dependency returning the Principal when the token's acr is one of ``values`` and, with
        ``max_age`` (seconds), its auth_time is recent enough; else 401 insufficient_user_authentication."""
        acceptable = tuple(values)
        if not acceptable:
            raise ValueError("require_acr needs at least one acceptable acr value")
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
            raise ValueError("max_age must be a whole number of seconds")

        async def with_acr(request: Request, principal: Principal = Depends(self.require_auth)) -> Principal:
            try:
                return principal.require_acr(acceptable, max_age=max_age, now=self.verifier.now())
            except VerifierError as error:
                raise self._refuse(error, request) from None

        return with_acr

    def require_mfa(self, *, max_age: Optional[int] = None) -> Callable[..., Any]:
        """require_acr(["aal2"]): the user signed in with a second factor (TOTP or a recovery code)."""
        return self.require_acr([MFA_ACR], max_age=max_age)

    def _refuse(self, error: VerifierError, request: Request) -> AuthdHTTPException:
        request.state.authd_error = error
        if self.on_error is not None:
            self.on_error(error, request)
        return AuthdHTTPException(error, self.realm)
