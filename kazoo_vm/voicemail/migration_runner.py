"""The bulk migration of 3.x voicemail: every box with legacy messages in the chosen accounts, a bounded
number of accounts at once, the boxes of an account in groups migrated together (step_groups), counting what
was processed, moved, failed or had no media id."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..storage.design_docs import ACCOUNT
from .accounts import Account
from .actor import Actor
from .errors import BadIdentifier
from .legacy_migration import Stats, step_groups
from .service import Voicemail

COMMAND = Actor(request_id="legacy-migration-command")


@dataclass
class Run:
    accounts: dict[str, Stats] = field(default_factory=dict)

    @property
    def total(self) -> Stats:
        total = Stats()
        for stats in self.accounts.values():
            total.add(stats)
        return total

    def as_json(self) -> dict:
        return {"accounts": {account_id: stats.summary() for account_id, stats in self.accounts.items()},
                "total": self.total.summary()}


async def legacy_boxes(voicemail: Voicemail, account: Account, box_id: str | None) -> list[tuple[str, int]]:
    """(box id, legacy entries) of the account's boxes that have any."""
    rows = await voicemail.store.rows(account.db, ACCOUNT, "vmboxes", "crossbar_listing")
    return [(row["id"], row["value"]["messages"]) for row in rows
            if row["value"].get("messages") and (box_id is None or row["id"] == box_id)]


async def plan(voicemail: Voicemail, account_ids: list[str], box_id: str | None, *, skip_missing: bool = False
               ) -> list[tuple[Account, list[tuple[str, int]]]]:
    """The boxes to migrate per account; with skip_missing (a walk of every account) a deleted account is
    passed over instead of stopping the whole run."""
    work = []
    for account_id in account_ids:
        try:
            account = await voicemail.accounts.get(account_id)
        except BadIdentifier:
            if skip_missing:
                continue
            raise
        if box_id is not None:
            await voicemail.boxes.load(account, box_id)
        work.append((account, await legacy_boxes(voicemail, account, box_id)))
    return work


async def migrate(voicemail: Voicemail, work: list[tuple[Account, list[tuple[str, int]]]], *, workers: int,
                  batch: int, dry_run: bool, progress: Callable[[Account, Stats], None]) -> Run:
    run = Run({account.id: Stats() for account, _ in work})
    limit = asyncio.Semaphore(max(workers, 1))

    async def one_account(account: Account, boxes: list[tuple[str, int]]) -> None:
        async with limit:
            for group in step_groups(boxes, batch):
                _, stats = await voicemail.legacy.migrate_boxes(account, group, COMMAND, retry_failed=True,
                                                                batch=batch, dry_run=dry_run,
                                                                on_batch=lambda done: progress(account, done))
                run.accounts[account.id].add(stats)

    await asyncio.gather(*(one_account(account, boxes) for account, boxes in work))
    return run
