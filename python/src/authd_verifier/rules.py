"""The access-token rule set of spec/verifier-cases.json ("rules"); a test keeps the two equal.

The same set as the Node kit's packages/verifier/src/rules.ts, which authd's server itself uses."""

ALGORITHMS = ("RS256",)
TYP = "at+jwt"
HEADER_ALLOWLIST = frozenset({"alg", "typ", "kid"})
MAX_TOKEN_LENGTH = 8192
CLOCK_SKEW_SECONDS = 30
"""The most a verifier tolerates on exp/nbf/iat/auth_time; authd keeps revocations and retired keys that long past exp."""
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
JWKS_REFETCH_COOLDOWN_SECONDS = 30
