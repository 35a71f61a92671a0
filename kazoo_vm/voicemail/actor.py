"""Who makes a change: recorded in a document's pvt fields as Crossbar records it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    request_id: str
    auth_account_id: str | None = None
