"""The email side of one service process: on when `KAZOO_VM_SMTP_URL` and `KAZOO_VM_EMAIL_FROM` are set and
the event pipeline runs (`KAZOO_VM_EVENTS`). It asks the pipeline to follow every account (any box may notify
by email), takes its `voicemail_new` events (`Notifier.accept`), scans for due records, and reports itself in
`/v2/health`. `preview` composes a box's email without sending it (`kazoo-vm notify preview`)."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..events.records import Event
from ..storage import StorageError
from ..voicemail.service import Voicemail
from . import compose, smtp
from .notifier import Notifier, after_notify_action
from .recipients import recipients

log = logging.getLogger("kazoo_vm.notifications")
ACCOUNTS_SECONDS = 5.0  # a new account is followed within this (plus the pipeline's lease renewal)
SCAN_SECONDS = 5.0


class Notifications:
    def __init__(self, settings: Settings, voicemail: Voicemail, instance: str | None = None):
        self.settings = settings
        self.voicemail = voicemail
        self.instance = instance or f"{socket.gethostname()}:{settings.port}:{os.getpid()}"
        self.reason: str | None = None
        self.target: smtp.SmtpTarget | None = None
        if not settings.smtp_url:
            self.reason = "KAZOO_VM_SMTP_URL is not set"
        elif not settings.email_from:
            self.reason = "KAZOO_VM_EMAIL_FROM is not set"
        else:
            try:
                self.target = smtp.SmtpTarget.parse(settings.smtp_url)
            except smtp.BadSmtpUrl as bad:
                self.reason = str(bad)
        if self.reason is None and not settings.events:
            self.reason = "the event pipeline is off (KAZOO_VM_EVENTS=false)"
        self.notifier = Notifier(settings, voicemail, self.target, self.instance) if self.reason is None else None
        self.accounts: set[str] = set()
        self.accounts_seconds = ACCOUNTS_SECONDS
        self.changed: list[Callable[[], None]] = []  # told when the accounts to follow change
        self._tasks: list[asyncio.Task] = []
        self.error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.notifier is not None

    def watched(self) -> set[str]:
        """Accounts whose databases the event pipeline must follow for email: every account."""
        return self.accounts if self.enabled else set()

    @property
    def raises(self) -> set[str]:
        """With email on, `voicemail_saved` follows the mail's outcome (only when no action applies), as in
        Kazoo; the pipeline leaves it out."""
        return {"voicemail_saved"} if self.enabled else set()

    def attach(self, deliver) -> None:
        if self.notifier is not None:
            self.notifier.deliver_events = deliver

    async def accept(self, events: list[Event]) -> None:
        if self.notifier is not None:
            await self.notifier.accept(events)

    async def start(self) -> None:
        if self.notifier is not None:
            self._tasks = [asyncio.create_task(self._every(self.accounts_seconds, self._load_accounts)),
                           asyncio.create_task(self._every(self._scan_seconds(), self.notifier.scan))]

    def _scan_seconds(self) -> float:
        return max(0.1, min(SCAN_SECONDS, *(wait / 2 for wait in self.settings.email_retry_seconds)))

    async def _load_accounts(self) -> None:
        accounts = set(await self.voicemail.accounts.all_ids())
        if accounts != self.accounts:
            self.accounts = accounts
            for callback in self.changed:
                callback()

    async def _every(self, seconds: float, work) -> None:
        while True:
            try:
                await work()
                self.error = None
            except asyncio.CancelledError:
                raise
            except StorageError as failure:
                self.error = f"{type(failure).__name__}: {failure}"[:200]
                log.warning("email: %s", self.error)
            except Exception:  # noqa: BLE001 - the loop must outlive bugs and outages
                log.exception("email: unexpected failure")
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.notifier is not None:
            await self.notifier.close()

    def status(self) -> dict[str, Any]:
        if self.notifier is None:
            return {"enabled": False, "reason": self.reason}
        return {"enabled": True, "smtp": self.target.describe(), "from": self.settings.email_from,
                "accounts_followed": len(self.accounts), "sent": self.notifier.sent,
                "failed_attempts": self.notifier.failed_attempts, "given_up": self.notifier.given_up,
                **({"error": self.error} if self.error else {})}

    async def preview(self, account_id: str, box_id: str, message_id: str | None) -> dict[str, Any]:
        """The email a box's message would get (a sample message when none is named), not sent."""
        account = await self.voicemail.accounts.get(account_id)
        notifier = self.notifier or Notifier(self.settings, self.voicemail, self.target, self.instance)
        if message_id is None:
            box = await self.voicemail.boxes.load(account, box_id)
            message = _sample(box, account.realm)
        else:
            box, message = await self.voicemail.message.load(account, box_id, message_id)
        owner = await notifier.owner(account, box)
        to = recipients(box, owner)
        recording = await notifier.recording(account, box, message["_id"]) if message_id else None
        mail = compose.compose(notifier.templates, self.settings.email_from or "(KAZOO_VM_EMAIL_FROM not set)", to,
                               account, box, owner, message, recording, self.settings.email_max_attachment_bytes)
        return {"email": "on" if self.enabled else f"off: {self.reason}", "recipients": to,
                "after_notify": after_notify_action(box), "mail": mail, "recording": recording}


def _sample(box: dict, realm: str) -> dict:
    from ..storage.dbnames import gregorian_now
    now = gregorian_now()
    return {"_id": "sample", "source_id": box["_id"],
            "metadata": {"caller_id_name": "Sample Caller", "caller_id_number": "+15555550100", "length": 42000,
                         "timestamp": now, "from_user": "+15555550100", "from_realm": realm,
                         "to_user": str(box.get("mailbox", "")), "to_realm": realm}}


def render_preview(preview: dict[str, Any]) -> str:
    """The preview as text: headers, the text body, the HTML body's size, the attachment's name and size."""
    mail: compose.Email = preview["mail"]
    recording: compose.Recording | None = preview["recording"]
    lines = [f"Email: {preview['email']}", f"After notify: {preview['after_notify']}",
             f"From: {mail.sender}", f"To: {', '.join(mail.recipients) or '(nobody: no email would be sent)'}",
             f"Subject: {mail.subject}", f"Message-ID: {mail.message_id}", ""]
    lines += [mail.text.rstrip("\n"), "", f"(HTML body: {len(mail.html.encode())} bytes)"]
    if mail.attachment_name:
        lines.append(f"Attachment: {mail.attachment_name} ({mail.attachment_type}, {len(mail.attachment or b'')} bytes)")
    elif recording is not None:
        lines.append(f"Attachment: none (recording {recording.size} bytes, {recording.content_type})")
    else:
        lines.append("Attachment: none")
    return "\n".join(lines) + "\n"
