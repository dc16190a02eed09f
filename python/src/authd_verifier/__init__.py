"""authd_verifier: verify authd's access tokens in Python services.

    from authd_verifier import Verifier, bearer_token, VerifierError

    verifier = Verifier(issuer="https://auth.example.com", audience="https://api.example.com")
    principal = verifier.verify(bearer_token(headers.get("authorization")))   # or await averify(...)

FastAPI dependencies live in authd_verifier.fastapi.
"""

from .bearer import bearer_token
from .errors import REASONS, Reason, VerifierError
from .principal import MFA_ACR, Principal
from .revocation import IntrospectionRevocation, RedisRevocation, RevocationCheck
from .verifier import Verifier

__all__ = [
    "MFA_ACR",
    "REASONS",
    "IntrospectionRevocation",
    "Principal",
    "Reason",
    "RedisRevocation",
    "RevocationCheck",
    "Verifier",
    "VerifierError",
    "bearer_token",
]
__version__ = "0.1.0"
