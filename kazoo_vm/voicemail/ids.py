"""Identifier patterns, checked before CouchDB is asked anything."""
from __future__ import annotations

import re
import secrets

BOX_ID = re.compile(r"^(?:[0-9a-f]{32}|[A-Za-z0-9][A-Za-z0-9_-]{0,63})$")
MESSAGE_ID = re.compile(r"^(\d{4})(\d{2})-([0-9a-f]{32}|[A-Za-z0-9][A-Za-z0-9_-]{0,63})$")
LEGACY_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
RESERVED = {"messages", "raw"}


def new_id() -> str:
    return secrets.token_hex(16)


def is_box_id(value: str) -> bool:
    return bool(BOX_ID.fullmatch(value)) and value not in RESERVED


def message_month(value: str) -> tuple[int, int] | None:
    """(year, month) of a `YYYYMM-...` message id, None when the id is not one."""
    found = MESSAGE_ID.fullmatch(value)
    if not found:
        return None
    year, month = int(found[1]), int(found[2])
    return (year, month) if 1 <= month <= 12 and year >= 1970 else None


def is_legacy_message_id(value: str) -> bool:
    return bool(LEGACY_MESSAGE_ID.fullmatch(value))


def modb_id(year: int, month: int, media_id: str) -> str:
    return f"{year:04d}{month:02d}-{media_id}"
