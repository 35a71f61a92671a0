"""Accounts as Kazoo stores them: a document in `accounts` and in the account's own database."""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from ..storage import JSON, Conflict, NotFound
from ..storage.dbnames import ACCOUNTS_DB, account_db, encoded, gregorian_now, is_account_id
from ..storage.design_docs import ACCOUNT, ACCOUNTS
from ..storage.store import Store
from .errors import BadIdentifier, Forbidden, InvalidCredentials
from .ids import new_id

CACHE_SECONDS = 5.0
CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    realm: str
    tree: tuple[str, ...]
    timezone: str | None

    @property
    def db(self) -> str:
        return account_db(self.id)

    @classmethod
    def from_doc(cls, doc: JSON) -> "Account":
        return cls(id=doc["_id"], name=doc.get("name", ""), realm=doc.get("realm") or "nodomain",
                   tree=tuple(doc.get("pvt_tree") or ()), timezone=doc.get("timezone"))


def _realm_for(name: str, account_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "account"
    return f"{slug}-{account_id[:6]}.kazoo-vm.local"


class Accounts:
    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[str, tuple[float, Account]] = {}

    async def create(self, name: str, realm: str | None = None, parent_id: str | None = None,
                     timezone: str | None = None) -> tuple[Account, str]:
        """Create an account and its database; returns it with its API key."""
        await self.store.create_db(ACCOUNTS_DB, ACCOUNTS)
        tree: list[str] = []
        if parent_id is not None:
            parent = await self.get(parent_id)
            tree = [*parent.tree, parent.id]
        account_id, api_key, now = new_id(), secrets.token_hex(32), gregorian_now()
        db = account_db(account_id)
        doc: JSON = {
            "_id": account_id, "name": name, "realm": realm or _realm_for(name, account_id),
            "pvt_type": "account", "pvt_api_key": api_key, "pvt_tree": tree,
            "pvt_account_id": account_id, "pvt_account_db": encoded(db), "pvt_vsn": "1",
            "pvt_created": now, "pvt_modified": now, "pvt_enabled": True,
        }
        if timezone:
            doc["timezone"] = timezone
        await self.store.create_db(db, ACCOUNT)
        await self.store.put(db, dict(doc))
        await self.store.put(ACCOUNTS_DB, dict(doc))
        return Account.from_doc(doc), api_key

    async def get(self, account_id: str) -> Account:
        """An existing, not deleted account; 404 bad_identifier otherwise. Cached for a few seconds."""
        cached = self._cache.get(account_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        if not is_account_id(account_id):
            raise BadIdentifier(account_id)
        try:
            doc = await self.store.get(ACCOUNTS_DB, account_id)
        except NotFound:
            raise BadIdentifier(account_id) from None
        if doc.get("pvt_type") != "account" or doc.get("pvt_deleted"):
            raise BadIdentifier(account_id)
        account = Account.from_doc(doc)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[account_id] = (time.monotonic() + CACHE_SECONDS, account)
        return account

    async def by_api_key(self, api_key: str) -> Account:
        # keys in a POST body: an API key in a URL would be written to CouchDB's request log
        rows = await self.store.rows(ACCOUNTS_DB, ACCOUNTS, "kazoo_vm_accounts", "by_api_key", keys=[api_key])
        if len(rows) != 1:
            raise InvalidCredentials()
        return await self.get(rows[0]["id"])

    async def any_account(self) -> JSON | None:
        """The first account found, if any (used by `kazoo-vm dev` to decide whether to create one)."""
        rows = await self.store.rows(ACCOUNTS_DB, ACCOUNTS, "kazoo_vm_accounts", "by_api_key", limit=1,
                                     include_docs=True)
        return rows[0]["doc"] if rows else None

    async def authorize(self, token_account_id: str, account_id: str) -> Account:
        """The account a token may act on: its own, or one whose tree holds it."""
        account = await self.get(account_id)
        if token_account_id != account.id and token_account_id not in account.tree:
            raise Forbidden()
        return account

    async def all_ids(self) -> list[str]:
        """The id of every account in `accounts`."""
        return [doc_id for doc_id in await self.store.ids(ACCOUNTS_DB) if is_account_id(doc_id)]

    async def api_key(self, account: Account) -> str:
        return (await self.store.get(ACCOUNTS_DB, account.id)).get("pvt_api_key", "")

    async def install_design_docs(self) -> int:
        """Install the design documents of `accounts` and of every account database; returns the count."""
        await self.store.create_db(ACCOUNTS_DB, ACCOUNTS)
        ids = await self.all_ids()
        for account_id in ids:
            try:
                await self.store.install_design_docs(account_db(account_id), ACCOUNT)
            except (NotFound, Conflict):
                continue
        return len(ids)
