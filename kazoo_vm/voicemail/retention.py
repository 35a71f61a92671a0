"""Message retention (kvm_util.erl): messages older than the window are shown as deleted and frozen."""
from __future__ import annotations

from typing import Any

from ..storage import JSON
from ..storage.dbnames import gregorian_now
from .errors import field_error

RETENTION_MESSAGE = "this message is prior to retention policy, no update operation is permitted"


def retention_seconds(days: int) -> int:
    return days * 86400 + 3600


def cutoff(days: int) -> int:
    """The Gregorian second before which messages are prior to retention."""
    return gregorian_now() - retention_seconds(days)


def message_time(doc: JSON) -> int | None:
    """The first defined of utc_seconds, timestamp, metadata.timestamp, pvt_created."""
    for value in (doc.get("utc_seconds"), doc.get("timestamp"), (doc.get("metadata") or {}).get("timestamp"),
                  doc.get("pvt_created")):
        if isinstance(value, int) and not isinstance(value, bool) and value:
            return value
    return None


def is_prior(timestamp: Any, cutoff: int) -> bool:
    return isinstance(timestamp, int) and not isinstance(timestamp, bool) and 0 < timestamp < cutoff


def enforce(metadata: JSON) -> JSON:
    """The metadata as a client sees it for a message prior to retention."""
    return {**metadata, "folder": "deleted", "retention": "enforced", "retention_message": RETENTION_MESSAGE}


def prior_error(message_id: str, cutoff: int):
    return field_error(message_id, "date_range", "cannot make changes to messages prior to retention duration",
                       cause=cutoff)
