"""Delivering events to hooks without letting one receiver slow the others: each hook has its own bound on
concurrent deliveries and on events waiting; events with the same ordering key (one message, one box) go to
a hook one after the other, in the order they happened. Failures are retried with exponential backoff up to
the hook's `retries` attempts (connection errors, timeouts, 5xx), every failed attempt is logged (successes
when configured), and a hook that fails `failure_count` times within `failure_window` seconds is disabled
(`enabled: false`, `disable_reason`), as Kazoo's disabler does."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from ..config import Settings
from ..events.records import Event
from ..storage import JSON
from . import delivery
from .attempts import Attempts
from .hooks import Hooks
from .matching import HookSet

log = logging.getLogger("kazoo_vm.webhooks")
CONCURRENCY_PER_HOOK = 4
QUEUE_PER_HOOK = 1000
MAX_ATTEMPTS = 5  # kzd_webhook:retries/1 clamps to 1..5
MAX_BACKOFF = 60.0


@dataclass
class HookState:
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENCY_PER_HOOK))
    waiting: int = 0
    failures: deque = field(default_factory=deque)


class Dispatcher:
    def __init__(self, settings: Settings, hookset: HookSet, hooks: Hooks, attempts: Attempts):
        self.settings = settings
        self.hookset = hookset
        self.hooks = hooks
        self.attempts = attempts
        self.states: dict[str, HookState] = {}
        self.http: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failed = 0

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    def _http(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            self.http = delivery.session(self.settings.webhook_refuse_private)
        return self.http

    async def deliver(self, events: Sequence[Event]) -> None:
        """Hand a feed's batch over; returns when every delivery is settled (delivered, or given up and logged)."""
        groups: dict[tuple[str, str], list[Event]] = {}
        hooks: dict[str, JSON] = {}
        for event in events:
            for hook in await self.hookset.matching(event):
                hooks[hook["_id"]] = hook
                groups.setdefault((hook["_id"], event.ordering_key), []).append(event)
        await asyncio.gather(*(self._group(hooks[hook_id], group) for (hook_id, _), group in groups.items()))

    async def _group(self, hook: JSON, events: list[Event]) -> None:
        state = self.states.setdefault(hook["_id"], HookState())
        if state.waiting + len(events) > QUEUE_PER_HOOK:
            for event in events:
                await self._log(hook, event, delivery.Outcome(False, False, "queue full", {"uri": hook.get("uri")}),
                                1, 0)
                await self._failed(hook, state)
            return
        state.waiting += len(events)
        remaining = len(events)
        try:
            async with state.slots:
                for event in events:
                    state.waiting -= 1
                    remaining -= 1
                    await self._one(hook, event, state)
        finally:
            state.waiting -= remaining  # cancelled: what was never sent is not waiting any more

    async def _one(self, hook: JSON, event: Event, state: HookState) -> None:
        tries = max(1, min(MAX_ATTEMPTS, int(hook.get("retries", 2) or 1)))
        for attempt in range(1, tries + 1):
            current = self.hookset.get(hook["_id"])
            if current is None:
                return  # disabled, deleted or changed away meanwhile
            hook = current
            outcome = await delivery.attempt(self._http(), hook, event, self.settings.webhook_timeout,
                                             self.settings.webhook_refuse_private)
            if outcome.success:
                self.delivered += 1
                if self.settings.webhook_log_successes:
                    await self._log(hook, event, outcome, attempt, tries - attempt)
                return
            self.failed += 1
            await self._log(hook, event, outcome, attempt, tries - attempt)
            if await self._failed(hook, state) or not outcome.retry or attempt == tries:
                return
            await asyncio.sleep(min(MAX_BACKOFF, self.settings.webhook_backoff * 2 ** (attempt - 1)))

    async def _failed(self, hook: JSON, state: HookState) -> bool:
        """Count a failure; True when it disabled the hook."""
        now = time.monotonic()
        state.failures.append(now)
        while state.failures and state.failures[0] < now - self.settings.webhook_failure_window:
            state.failures.popleft()
        if len(state.failures) < self.settings.webhook_failure_count:
            return False
        state.failures.clear()
        if await self.hooks.disable(hook["_id"]):
            log.warning("hook %s of account %s disabled after repeated failures", hook["_id"],
                        hook.get("pvt_account_id"))
        self.hookset.hooks.pop(hook["_id"], None)
        return True

    async def _log(self, hook: JSON, event: Event, outcome: delivery.Outcome, attempt: int, left: int) -> None:
        doc = {"hook_id": hook["_id"], "hook_event": hook.get("hook"), "custom_data": hook.get("custom_data"),
               "event_id": event.event_id, "event_name": event.name, **outcome.request, **outcome.response,
               "result": "success" if outcome.success else "failure", "reason": outcome.reason, "try": attempt,
               "retries_left": left if left else "retries exceeded"}
        await self.attempts.save(hook["pvt_account_id"], {k: v for k, v in doc.items() if v is not None})
