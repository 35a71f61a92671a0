"""Deleting what tests created, so the suite can run against a shared CouchDB."""
from __future__ import annotations

from kazoo_vm.storage import CouchClient
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db
from kazoo_vm.voicemail.service import Voicemail


async def delete_accounts(voicemail: Voicemail, couch: CouchClient, account_ids: list[str]) -> None:
    """The accounts' documents in `accounts`, their databases, and the monthly databases the app made."""
    for db in list(voicemail.store.created_dbs):
        if any(db.startswith(account_db(account_id)) for account_id in account_ids):
            await couch.db_delete(db)
            voicemail.store.created_dbs.discard(db)
    for account_id in account_ids:
        await couch.db_delete(account_db(account_id))
        doc = await couch.get_or_none(ACCOUNTS_DB, account_id)
        if doc:
            await couch.delete(ACCOUNTS_DB, account_id, doc["_rev"])
