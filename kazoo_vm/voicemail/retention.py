"""Message retention (kvm_util.erl, docs/kazoo-behaviour.md §7): messages older than the window are shown as
deleted and cannot be changed."""
from __future__ import annotations

from typing import Any

from ..storage.dbnames import gregorian_now
from .errors import Invalid, field_error
from .values import JSON, is_whole_number

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
        if is_whole_number(value) and value:
            return value
    return None


def is_prior(timestamp: Any, cutoff: int) -> bool:
    return is_whole_number(timestamp) and 0 < timestamp < cutoff


def is_frozen(doc: JSON, cutoff: int) -> bool:
    """A stored message older than the window: shown as deleted, never changed."""
    return is_prior(message_time(doc), cutoff)


def enforce(metadata: JSON) -> JSON:
    """The metadata as a client sees it for a message prior to retention."""
    return {**metadata, "folder": "deleted", "retention": "enforced", "retention_message": RETENTION_MESSAGE}


def prior_error(message_id: str, cutoff: int) -> Invalid:
    return field_error(message_id, "date_range", "cannot make changes to messages prior to retention duration",
                       cause=cutoff)


def check_changeable(doc: JSON, message_id: str, cutoff: int) -> None:
    """400 date_range for a message prior to retention."""
    if is_frozen(doc, cutoff):
        raise prior_error(message_id, cutoff)
