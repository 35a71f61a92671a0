"""Kazoo's database names: account databases `account/xx/xx/...` and monthly MODBs `...-YYYYMM`."""
from __future__ import annotations

import re
from datetime import datetime, timezone

ACCOUNTS_DB = "accounts"
GREGORIAN_UNIX_OFFSET = 62167219200

ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_ENCODED_ACCOUNT_DB = re.compile(r"^account%2f([0-9a-f]{2})%2f([0-9a-f]{2})%2f([0-9a-f]{28})(?:-(\d{4})(\d{2}))?$",
                                 re.IGNORECASE)
_RAW_ACCOUNT_DB = re.compile(r"^account/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{28})(?:-(\d{4})(\d{2}))?$")
_RAW_MODB = re.compile(r"^([0-9a-f]{32})-(\d{4})(\d{2})$")


def is_account_id(value: str) -> bool:
    return bool(ACCOUNT_ID.fullmatch(value))


def account_db(account_id: str) -> str:
    """The real (unencoded) database name of an account: `account/ab/cd/<28 hex>`."""
    return f"account/{account_id[:2]}/{account_id[2:4]}/{account_id[4:]}"


def encoded(db: str) -> str:
    """The `%2F` form Kazoo passes around and stores in `pvt_account_db`."""
    return db.replace("/", "%2F")


def modb(account_id: str, year: int, month: int) -> str:
    return f"{account_db(account_id)}-{year:04d}{month:02d}"


def to_db(name: str) -> str | None:
    """Normalise any form of an account or MODB name (raw id, raw MODB, unencoded, encoded) to the real name."""
    for pattern in (_RAW_ACCOUNT_DB, _ENCODED_ACCOUNT_DB):
        found = pattern.match(name)
        if found:
            account_id = "".join(found.group(1, 2, 3)).lower()
            return modb(account_id, int(found[4]), int(found[5])) if found[4] else account_db(account_id)
    found = _RAW_MODB.match(name)
    if found:
        return modb(found[1], int(found[2]), int(found[3]))
    return account_db(name) if is_account_id(name) else None


def gregorian_now() -> int:
    return int(datetime.now(timezone.utc).timestamp()) + GREGORIAN_UNIX_OFFSET


def gregorian_to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds - GREGORIAN_UNIX_OFFSET, tz=timezone.utc)


def month_start(year: int, month: int) -> int:
    """The first Gregorian second of a UTC month."""
    return int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp()) + GREGORIAN_UNIX_OFFSET


def year_month(gregorian_seconds: int) -> tuple[int, int]:
    moment = gregorian_to_datetime(gregorian_seconds)
    return moment.year, moment.month


def months_between(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """Every (year, month) from start to end inclusive, oldest first."""
    (year, month), months = start, []
    while (year, month) <= end:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
