"""Deleting an account and everything stored for it, for tests and ephemeral runs: its entry in `accounts`,
its database and its monthly databases. The service never lists databases (docs/couchdb.md); this tool does,
through `_all_dbs`, and reads PouchDB Server's names back, which come without their `/`."""
from __future__ import annotations

import re

from ..storage import CouchClient
from ..storage.dbnames import ACCOUNTS_DB, account_db

_SLASHLESS = re.compile(r"^account([0-9a-f]{32})(-\d{6})?$")


def real_name(listed: str) -> str:
    """The real name of a database as `_all_dbs` lists it (PouchDB Server: `account<32 hex>-YYYYMM`)."""
    found = _SLASHLESS.fullmatch(listed)
    return account_db(found[1]) + (found[2] or "") if found else listed


async def account_databases(client: CouchClient, account_id: str) -> list[str]:
    """The account's database and monthly databases that exist."""
    db = account_db(account_id)
    names = {real_name(listed) for listed in await client.request("GET", "_all_dbs")}
    return sorted(name for name in names if name == db or name.startswith(db + "-"))


async def delete_account(client: CouchClient, account_id: str) -> None:
    for db in await account_databases(client, account_id):
        await client.db_delete(db)
    await client.db_delete(account_db(account_id))  # in case a listing missed it: nothing when it is gone
    doc = await client.get_or_none(ACCOUNTS_DB, account_id)
    if doc is not None:
        await client.delete(ACCOUNTS_DB, account_id, doc["_rev"])
