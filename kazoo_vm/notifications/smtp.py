"""Sending one email through aiosmtplib, configured by a URL (`KAZOO_VM_SMTP_URL`):
`smtp://user:pass@host:port` (plain, STARTTLS when the server offers it), `smtp://...?starttls=true`
(STARTTLS required), `smtps://...` (implicit TLS). The outcome is per recipient: accepted, refused for good
(a 5xx answer), or refused for now (a 4xx answer, or no answer at all: the server could not be reached)."""
from __future__ import annotations

import email.message
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

SCHEMES = {"smtp": 25, "smtps": 465}


class BadSmtpUrl(ValueError):
    """The URL cannot be used; the message never holds the URL's credentials."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool | None = None  # None: when the server offers it

    @classmethod
    def parse(cls, url: str) -> "SmtpTarget":
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise BadSmtpUrl("KAZOO_VM_SMTP_URL must be smtp://[user:password@]host[:port] or smtps://...")
        try:
            port = parts.port or SCHEMES[parts.scheme]
        except ValueError:
            raise BadSmtpUrl("KAZOO_VM_SMTP_URL has a bad port") from None
        query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
        starttls = {"true": True, "1": True, "false": False, "0": False}.get(query.get("starttls", ""))
        return cls(parts.hostname, port, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, parts.scheme == "smtps",
                   None if parts.scheme == "smtps" else starttls)

    def describe(self) -> str:
        """The server, without credentials (for health and logs)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}" + ("?starttls=true" if self.starttls else "")


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # for good: 5xx
    deferred: dict[str, str] = field(default_factory=dict)  # for now: 4xx, or the server not reached


def _reason(code: int, message: str) -> str:
    return f"{code} {message}".strip()[:300]


async def send(target: SmtpTarget, message: email.message.EmailMessage, sender: str, recipients: list[str],
               timeout: float) -> Outcome:
    outcome = Outcome()
    try:
        errors, _ = await aiosmtplib.send(message, sender=sender, recipients=recipients, hostname=target.host,
                                          port=target.port, username=target.username, password=target.password,
                                          use_tls=target.implicit_tls, start_tls=target.starttls, timeout=timeout)
    except aiosmtplib.SMTPRecipientsRefused as failure:
        for refused in failure.recipients:
            (outcome.refused if refused.code >= 500 else outcome.deferred)[refused.recipient] = \
                _reason(refused.code, refused.message)
        return outcome
    except aiosmtplib.SMTPResponseException as failure:
        # the sender or the message refused, or the server failing: for every recipient at once
        # (an authentication or greeting failure is the operator's to fix: tried again, never given up at once)
        reason = _reason(failure.code, failure.message)
        final = failure.code >= 500 and isinstance(failure, (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError))
        for recipient in recipients:
            (outcome.refused if final else outcome.deferred)[recipient] = reason
        return outcome
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
        for recipient in recipients:
            outcome.deferred[recipient] = f"the SMTP server could not be reached: {type(failure).__name__}"
        return outcome
    for recipient in recipients:
        response = errors.get(recipient)
        if response is None:
            outcome.accepted.append(recipient)
        else:
            (outcome.refused if response.code >= 500 else outcome.deferred)[recipient] = \
                _reason(response.code, response.message)
    return outcome
