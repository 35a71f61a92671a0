"""Which databases hold an account's events: its account database (boxes) and the monthly databases of the
retention window (messages; older ones cannot change through the API, which refuses messages past
retention)."""
from __future__ import annotations

from ..storage.dbnames import account_db, gregorian_now, modb, months_between, year_month

RETENTION_MONTHS_SLACK = 1


def databases_of(account_id: str, retention_days: int, now: int | None = None) -> list[str]:
    now = now or gregorian_now()
    oldest = year_month(now - retention_days * 86400 - 3600)
    return [account_db(account_id), *(modb(account_id, year, month)
                                      for year, month in months_between(oldest, year_month(now)))]
