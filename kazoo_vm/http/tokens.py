"""Signed, expiring auth tokens (JWT, HS256) carrying the account id."""
from __future__ import annotations

import hashlib
import time

import jwt

ALGORITHM = "HS256"


def _key(secret: str) -> bytes:
    """A full-length HMAC key from a secret of any length."""
    return hashlib.sha256(secret.encode()).digest()


def issue(secret: str, account_id: str, ttl: int) -> str:
    now = int(time.time())
    return jwt.encode({"account_id": account_id, "iat": now, "exp": now + ttl}, _key(secret), algorithm=ALGORITHM)


def verify(secret: str, token: str) -> str | None:
    """The account id a token carries, or None when it is not valid, not signed by us or expired."""
    try:
        claims = jwt.decode(token, _key(secret), algorithms=[ALGORITHM], options={"require": ["exp", "account_id"]})
    except jwt.PyJWTError:
        return None
    account_id = claims.get("account_id")
    return account_id if isinstance(account_id, str) else None
