"""Deleting what tests created, so the suite can run against a shared CouchDB."""
from __future__ import annotations

from kazoo_vm.devtools.cleanup import delete_account
from kazoo_vm.storage import CouchClient


async def delete_accounts(couch: CouchClient, account_ids: list[str]) -> None:
    """The accounts' documents in `accounts`, their databases and their monthly databases."""
    for account_id in account_ids:
        await delete_account(couch, account_id)
