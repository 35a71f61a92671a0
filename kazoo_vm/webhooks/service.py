"""The webhooks side of one service process: hook documents, the attempt log and, when events are on,
the event pipeline that feeds the dispatcher."""
from __future__ import annotations

from ..config import Settings
from ..storage.store import Store
from .attempts import Attempts
from .hooks import Hooks


class Webhooks:
    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self.hooks = Hooks(store, settings.webhook_refuse_private)
        self.attempts = Attempts(store)

    async def start(self) -> None:
        await self.hooks.install()

    async def close(self) -> None:
        return None
