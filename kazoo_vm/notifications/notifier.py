"""Sending the email of each new voicemail once, retrying failures, and applying the box's after-notify
action (docs/notifications.md).

- `accept` (the event pipeline's hand-off): a `voicemail_new` event creates the message's record; an event
  seen before (a replay, a second instance, a restart) finds the record and does nothing more. The record
  is stored before the pipeline moves its checkpoint, so no new voicemail is forgotten.
- `process`: the record is claimed (one instance at a time), the mail composed and sent to the recipients
  still to be tried, and the outcome written at once. Recipients refused with a 5xx are not tried again;
  the others are tried again after each wait of `email_retry_seconds`, then given up.
- After-notify (kvm_message:notify_and_update_meta): once the SMTP server accepted the mail for at least
  one recipient, `save_after_notify` moves the message to `saved`, else `delete_after_notify` to `deleted`
  (not a soft delete), through the same domain call as an API folder change. No accepted mail: nothing.
- `voicemail_saved` (to webhooks) follows only when the message stays in `new`: no action configured, no
  recipients, or no recipient accepted the mail in the end; the pipeline leaves it out while email is on.
- A record whose instance died (its claim expired) is taken up by the next scan of any instance.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import jinja2

from ..config import Settings
from ..events import payloads
from ..events.records import NOTIFICATIONS, Event
from ..storage import StorageError
from ..voicemail.accounts import Account
from ..voicemail.errors import BadIdentifier, VoicemailError
from ..voicemail.inputs import MessageChange
from ..voicemail.service import Voicemail
from . import compose, smtp
from .records import Records, new_record
from .recipients import recipients

log = logging.getLogger("kazoo_vm.notifications")
JSON = dict[str, Any]
CONCURRENT_SENDS = 4
SCAN_BATCH = 50
SAVE, DELETE, NOTHING = "save", "delete", "nothing"


def after_notify_action(box: JSON) -> str:
    """cf_voicemail:after_notify_action/1: save wins over delete."""
    if box.get("save_after_notify") is True:
        return SAVE
    if box.get("delete_after_notify") is True:
        return DELETE
    return NOTHING


class Notifier:
    def __init__(self, settings: Settings, voicemail: Voicemail, target: smtp.SmtpTarget, instance: str):
        self.settings = settings
        self.voicemail = voicemail
        self.target = target
        self.sender = settings.email_from or ""
        self.templates = compose.Templates(settings.email_templates)
        self.records = Records(voicemail.store, instance, claim_seconds=settings.email_timeout + 30.0)
        self.slots = asyncio.Semaphore(CONCURRENT_SENDS)
        self.working: dict[str, asyncio.Task] = {}
        self.sent = 0  # mails accepted by the SMTP server (for at least one recipient)
        self.failed_attempts = 0
        self.given_up = 0
        self.deliver_events = None  # the webhook dispatcher's deliver, for voicemail_saved (service.attach)

    # hand-off from the event pipeline
    async def accept(self, events: list[Event]) -> None:
        for event in events:
            if event.hook != NOTIFICATIONS or event.name != "voicemail_new":
                continue
            box_id = event.payload.get("voicemail_box")
            if not box_id:
                continue
            record = new_record(event.account_id, box_id, event.doc_id, event.event_id, time.time())
            if await self.records.create(record):
                self.kick(record["_id"])

    def kick(self, record_id: str) -> None:
        task = self.working.get(record_id)
        if task is None or task.done():
            self.working[record_id] = asyncio.create_task(self.process(record_id))

    async def scan(self) -> int:
        """Take up records that are due: retries, and records left by an instance that died. Returns how many."""
        ids = await self.records.due(time.time(), SCAN_BATCH)
        for record_id in ids:
            self.kick(record_id)
        for record_id in [key for key, task in self.working.items() if task.done()]:
            del self.working[record_id]
        return len(ids)

    async def close(self) -> None:
        for task in self.working.values():
            task.cancel()
        await asyncio.gather(*self.working.values(), return_exceptions=True)

    # one record
    async def process(self, record_id: str) -> None:
        async with self.slots:
            try:
                doc = await self.records.claim(record_id)
                if doc is not None:
                    await self._attempt(doc)
            except asyncio.CancelledError:
                raise
            except StorageError as failure:
                log.warning("email %s: storage: %s (taken up again by a later scan)", record_id, failure)
            except Exception:  # noqa: BLE001 - one record's bug must not stop the others
                log.exception("email %s failed unexpectedly (taken up again by a later scan)", record_id)

    async def _attempt(self, doc: JSON) -> None:
        try:
            account = await self.voicemail.accounts.get(doc["account_id"])
            box, message = await self.voicemail.message.load(account, doc["box_id"], doc["message_id"])
        except BadIdentifier:
            await self._finish(doc, "skipped", "the message, its box or its account is gone")
            return
        if message.get("pvt_deleted"):
            await self._finish(doc, "skipped", "the message was deleted")
            return
        if doc.get("recipients") is None:
            doc["recipients"] = recipients(box, await self.owner(account, box))
            doc["pending"] = list(doc["recipients"])
            doc["action"] = after_notify_action(box)
        if doc.get("pending"):
            await self._send(doc, account, box, message)
        if doc.get("accepted") and not doc.get("action_applied"):
            await self._apply_action(doc, account)  # at the first acceptance, even while others are retried
        if doc.get("pending"):
            await self.records.save(doc, release=True)  # waiting for a retry, which any instance may make
            return
        if doc.get("action", NOTHING) == NOTHING or not doc.get("accepted"):
            await self._raise_saved(doc, account, message)
        if not doc.get("recipients"):
            await self._finish(doc, "no_recipients", None)
        else:
            await self._finish(doc, doc["state"], None)

    async def _raise_saved(self, doc: JSON, account: Account, message: JSON) -> None:
        """`voicemail_saved` when the message stays in `new` (kvm_util:publish_voicemail_saved), to the hooks;
        at least once: raised before the record is finished, with the same event id every time."""
        if self.deliver_events is None or doc.get("saved_raised"):
            return
        ident = hashlib.sha256(f"{doc['_id']}\nvoicemail_saved".encode()).hexdigest()[:32]
        event = Event(ident, NOTIFICATIONS, "voicemail_saved", account.id, "mailbox_message", message["_id"],
                      payloads.voicemail_payload(ident, "voicemail_saved", account.id, message), time.monotonic())
        await self.deliver_events([event])
        doc["saved_raised"] = True

    async def owner(self, account: Account, box: JSON) -> JSON | None:
        owner_id = box.get("owner_id")
        if not isinstance(owner_id, str) or not owner_id:
            return None
        owner = await self.voicemail.store.find(account.db, owner_id)
        if owner is None or owner.get("pvt_type") != "user" or owner.get("pvt_deleted"):
            return None
        return owner

    async def recording(self, account: Account, box: JSON, message_id: str) -> compose.Recording | None:
        """The message's audio: its type and size, and its bytes when they are to be attached."""
        try:
            audio = await self.voicemail.message.audio(account, box["_id"], message_id)
        except BadIdentifier:
            return None
        data = None
        if compose.include_message(box) and audio.length <= self.settings.email_max_attachment_bytes:
            data = b"".join([chunk async for chunk in audio.read(0, audio.length - 1)]) if audio.length else b""
        return compose.Recording(audio.content_type, audio.length, data)

    async def build(self, account: Account, box: JSON, message: JSON, to: list[str]) -> compose.Email:
        owner = await self.owner(account, box)
        recording = await self.recording(account, box, message["_id"])
        return compose.compose(self.templates, self.sender, to, account, box, owner, message, recording,
                               self.settings.email_max_attachment_bytes)

    async def _send(self, doc: JSON, account: Account, box: JSON, message: JSON) -> None:
        pending = list(doc["pending"])
        try:
            mail = await self.build(account, box, message, pending)
        except jinja2.TemplateError as failure:
            outcome = smtp.Outcome(deferred={to: f"template error: {failure}"[:300] for to in pending})
        else:
            outcome = await smtp.send(self.target, mail.message(), self.sender, pending, self.settings.email_timeout)
        now = time.time()
        doc["attempts"] = doc.get("attempts", 0) + 1
        doc["accepted"] = [*doc.get("accepted", []), *outcome.accepted]
        doc["refused"] = {**doc.get("refused", {}), **outcome.refused}
        doc["deferred"] = outcome.deferred
        doc["pending"] = list(outcome.deferred)
        doc.setdefault("history", []).append({"at": now, "accepted": outcome.accepted, "refused": outcome.refused,
                                              "deferred": outcome.deferred})
        if outcome.accepted:
            self.sent += 1
        if outcome.refused or outcome.deferred:
            self.failed_attempts += 1
            log.warning("email for message %s of account %s: refused %s, deferred %s", doc["message_id"],
                        doc["account_id"], sorted(outcome.refused), sorted(outcome.deferred))
        waits = self.settings.email_retry_seconds
        if doc["pending"] and doc["attempts"] <= len(waits):
            doc["state"], doc["due"] = "retrying", now + waits[doc["attempts"] - 1]
        elif doc["pending"]:
            self.given_up += 1
            doc["refused"].update(doc["deferred"])
            doc["pending"], doc["state"] = [], "given_up"
        else:
            doc["state"] = "sent" if doc["accepted"] else "refused"
        # written before anything else happens: from here on, this mail is never sent again
        await self.records.save(doc)

    async def _apply_action(self, doc: JSON, account: Account) -> None:
        """Once per record; the record says so before the claim is let go."""
        action = doc.get("action") or NOTHING
        if action in (SAVE, DELETE):
            folder = "saved" if action == SAVE else "deleted"
            try:
                await self.voicemail.message.change(account, doc["box_id"], doc["message_id"],
                                                    MessageChange(folder=folder))
            except VoicemailError as refused:  # gone, deleted or past retention meanwhile: nothing to change
                doc["action_result"] = f"not applied: {refused.message}"
        doc["action_applied"] = True
        await self.records.save(doc)

    async def _finish(self, doc: JSON, state: str, reason: str | None) -> None:
        doc["state"], doc["done"] = state, True
        if reason:
            doc["reason"] = reason
        await self.records.save(doc, release=True)
