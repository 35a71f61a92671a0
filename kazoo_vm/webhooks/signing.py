"""The signature of a delivery when its hook has a `signing_secret` (a kazoo-vm extension; Kazoo signs
nothing): `X-Kazoo-VM-Timestamp: <unix seconds>` and `X-Kazoo-VM-Signature: t=<timestamp>,v1=<hex>`, where
hex is HMAC-SHA256 with the secret over `<timestamp>.<body>` (for a GET: over its query string), as Stripe
signs its webhooks. A receiver recomputes it and refuses old timestamps to stop replays."""
from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Kazoo-VM-Timestamp"
SIGNATURE_HEADER = "X-Kazoo-VM-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (and the tests): recompute and compare in constant time."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        expected = signature(secret, int(parts["t"]), body)
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(expected, header)
