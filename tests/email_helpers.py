"""Helpers of the email tests: a real SMTP server (aiosmtpd, on a free port of its own thread) that keeps
every mail it accepts and can be told to refuse recipients, and the parts of a received mail."""
from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kazoo_vm.devtools.local_couch import free_port


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def body(self, subtype: str) -> str:
        return self.message.get_body(preferencelist=(subtype,)).get_content()

    def attachments(self) -> list[email.message.EmailMessage]:
        return list(self.message.iter_attachments())


@dataclass
class SmtpServer:
    """Accepts everything unless told otherwise: `refuse[address] = "550 ..."` (or "451 ...") answers RCPT."""
    port: int = field(default_factory=free_port)
    received: list[Mail] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    controller: Controller | None = None
    # hold the next N RCPTs unanswered, or the next N mails after keeping them (the 250 not sent), until release
    hold_rcpt: int = 0
    hold_data: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    login: tuple[str, str] | None = None  # required AUTH (over plain TCP: a test server only)
    logins: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        auth = dict(auth_required=True, auth_require_tls=False, authenticator=self._authenticate) if self.login \
            else {}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **auth)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self.controller is not None:
            self.controller.stop()

    # aiosmtpd handler hooks
    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = (auth_data.login.decode(), auth_data.password.decode()) if isinstance(auth_data, LoginPassword) \
            else None
        self.logins.append(f"{mechanism}:{given[0] if given else '?'}")
        return AuthResult(success=given == self.login)

    async def _hold(self) -> None:
        while not self.released.is_set():
            await asyncio.sleep(0.05)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.hold_rcpt > 0:
            self.hold_rcpt -= 1
            self.refused.append((address, "held"))
            await self._hold()
        answer = self.refuse.get(address)
        if answer:
            self.refused.append((address, answer))
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        if self.hold_data > 0:
            self.hold_data -= 1
            await self._hold()
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 30.0, where=lambda mail: True) -> list[Mail]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [mail for mail in self.received if where(mail)]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)
