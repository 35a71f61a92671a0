"""Everything the voicemail domain needs, opened once per process (by the server or the CLI)."""
from __future__ import annotations

from ..config import Settings
from ..storage import CouchClient
from ..storage.store import Store
from collections.abc import Mapping

from ..storage import JSON
from .accounts import Account, Accounts
from .boxes import Actor, Boxes
from .paging import Page


class Voicemail:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.couch = CouchClient(settings.couchdb_url, timeout=settings.couch_timeout)
        self.store = Store(self.couch)
        self.accounts = Accounts(self.store)
        self.boxes = Boxes(self.store, settings.page_size)

    async def start(self) -> None:
        """Install missing or outdated design documents."""
        await self.accounts.install_design_docs()

    async def close(self) -> None:
        await self.couch.close()

    async def box_listing(self, account: Account, query: Mapping[str, str]) -> Page:
        return await self.boxes.listing(account, query)

    async def delete_box(self, account: Account, box_id: str, actor: Actor) -> JSON:
        return await self.boxes.delete(account, box_id, actor)
