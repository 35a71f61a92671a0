"""Signed, expiring auth tokens (JWT, HS256) carrying the account id."""
from __future__ import annotations

import hashlib
import time

import jwt

ALGORITHM = "HS256"
# Tokens already verified, by (secret, token): a client sends the same token with every request, and checking
# its signature again was a tenth of the service's CPU per request. The expiry is still checked on every use.
VERIFIED_LIMIT = 10_000
_verified: dict[tuple[str, str], tuple[str, int]] = {}


def _key(secret: str) -> bytes:
    """A full-length HMAC key from a secret of any length."""
    return hashlib.sha256(secret.encode()).digest()


def issue(secret: str, account_id: str, ttl: int) -> str:
    now = int(time.time())
    return jwt.encode({"account_id": account_id, "iat": now, "exp": now + ttl}, _key(secret), algorithm=ALGORITHM)


def verify(secret: str, token: str) -> str | None:
    """The account id a token carries, or None when it is not valid, not signed by us or expired."""
    known = _verified.get((secret, token))
    if known is not None:
        return known[0] if time.time() < known[1] else None
    try:
        claims = jwt.decode(token, _key(secret), algorithms=[ALGORITHM], options={"require": ["exp", "account_id"]})
    except jwt.PyJWTError:
        return None
    account_id, expires = claims.get("account_id"), claims.get("exp")
    if not isinstance(account_id, str):
        return None
    if isinstance(expires, int):
        if len(_verified) >= VERIFIED_LIMIT:
            _verified.clear()
        _verified[(secret, token)] = (account_id, expires)
    return account_id
