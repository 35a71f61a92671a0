"""Message documents exactly as Kazoo writes them (kzd_box_message:new/2, docs/kazoo-behaviour.md §2.2 and §6.9)."""
from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..storage import JSON
from ..storage.dbnames import (GREGORIAN_UNIX_OFFSET, encoded, gregorian_now, gregorian_to_datetime, modb,
                                month_start, year_month)
from .accounts import Account
from .actor import Actor
from .folders import NEW
from .ids import modb_id, new_id
from .values import alphanum, is_whole_number

ANONYMOUS = "anonymous"
TYPE = "mailbox_message"
# The times a message id can name: its `YYYYMM-` prefix holds the years 1970 to 9999.
EARLIEST = GREGORIAN_UNIX_OFFSET
LATEST = month_start(9999, 12) + 31 * 86400 - 1


def local_time(gregorian: int, timezone: str | None) -> tuple[datetime, bool]:
    """The time in a timezone; (UTC time, False) when the zone is unknown."""
    moment = gregorian_to_datetime(gregorian)
    if timezone:
        try:
            return moment.astimezone(ZoneInfo(timezone)), True
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return moment, False


def box_timezone(box: JSON, account: Account) -> str | None:
    return box.get("timezone") or account.timezone


def message_name(mailbox: str, gregorian: int, timezone: str | None) -> str:
    moment, known = local_time(gregorian, timezone)
    name = (f"mailbox {mailbox} message {moment.year}-{moment.month:02d}-{moment.day:02d} "
            f"{moment.hour}:{moment.minute}:{moment.second}")
    return name if known or not timezone else name + " UTC"


def with_realm(address: str, realm: str) -> str:
    """`user@realm`: the account realm is appended only when there is no `@` already (docs/differences.md)."""
    return address if "@" in address else f"{address}@{realm}"


def split_address(address: str) -> tuple[str, str]:
    user, _, realm = address.partition("@")
    return user, realm


def build_metadata(fields: JSON, box: JSON, account: Account, message_id: str, timestamp: int) -> JSON:
    caller_number = fields.get("caller_id_number", ANONYMOUS)
    metadata = {
        "media_id": message_id,
        "call_id": fields.get("call_id") or secrets.token_hex(12),
        "caller_id_name": fields.get("caller_id_name", ANONYMOUS),
        "caller_id_number": caller_number,
        "from": with_realm(fields.get("from") or caller_number, account.realm),
        "to": with_realm(fields.get("to") or str(box.get("mailbox", "")), account.realm),
        "length": fields.get("length", 1),
        "timestamp": timestamp,
        "folder": fields.get("folder") or NEW,
    }
    metadata["from_user"], metadata["from_realm"] = split_address(metadata["from"])
    metadata["to_user"], metadata["to_realm"] = split_address(metadata["to"])
    return metadata


def new_message(fields: JSON, box: JSON, account: Account, actor: Actor, *, media_id: str | None = None) -> JSON:
    """A message document for box, in the MODB of its timestamp's UTC month."""
    timestamp = fields.get("timestamp") or gregorian_now()
    year, month = year_month(timestamp)
    message_id = modb_id(year, month, media_id or new_id())
    name = message_name(str(box.get("mailbox", "")), timestamp, box_timezone(box, account))
    now = gregorian_now()
    doc: JSON = {
        "_id": message_id,
        "name": name,
        "description": "voicemail message with media",
        "source_type": "voicemail",
        "source_id": box["_id"],
        "media_source": "recording",
        "streamable": True,
        "utc_seconds": timestamp,
        "metadata": build_metadata(fields, box, account, message_id, timestamp),
        "pvt_type": TYPE,
        "pvt_account_id": account.id,
        "pvt_account_db": encoded(modb(account.id, year, month)),
        "pvt_created": now,
        "pvt_modified": now,
        "pvt_vsn": "1",
        "pvt_request_id": actor.request_id,
        "pvt_is_authenticated": True,
        "pvt_alphanum_name": alphanum(name),
    }
    if actor.auth_account_id:
        doc["pvt_auth_account_id"] = actor.auth_account_id
    return doc


def db_of(account: Account, message_id: str) -> str:
    return modb(account.id, int(message_id[:4]), int(message_id[4:6]))


def metadata_of(doc: JSON) -> JSON:
    """kzd_box_message:metadata/1: the metadata, with the transcription merged in when there is one."""
    metadata = dict(doc.get("metadata") or {})
    if "transcription" in doc:
        metadata["transcription"] = doc["transcription"]
    return metadata


def is_message_of(doc: JSON, account: Account) -> bool:
    """A message document of this account (another `pvt_type` or account is not found, never data)."""
    return doc.get("pvt_type") == TYPE and doc.get("pvt_account_id", account.id) == account.id


def in_box(doc: JSON, account: Account, box_id: str) -> bool:
    """A message of this box of this account (soft-deleted or not, as a fetch sees it)."""
    return is_message_of(doc, account) and doc.get("source_id") == box_id


def nameable(timestamp: object) -> bool:
    """A time a message id or a download can be named by: documents other programs wrote may hold anything."""
    return is_whole_number(timestamp) and EARLIEST <= timestamp <= LATEST
