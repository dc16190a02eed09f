"""The access-token rule set of spec/verifier-cases.json ("rules"); a test keeps the two equal."""

ALGORITHMS = ("RS256",)
TYP = "at+jwt"
HEADER_ALLOWLIST = frozenset({"alg", "typ", "kid"})
MAX_TOKEN_LENGTH = 8192
CLOCK_SKEW_SECONDS = 30
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
JWKS_REFETCH_COOLDOWN_SECONDS = 30
