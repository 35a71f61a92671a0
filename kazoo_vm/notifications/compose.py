"""The email of a new voicemail (teletype_voicemail_to_email, docs/notifications.md): Kazoo's template data
(`voicemail.*`, `caller_id.*`, `date_called.*`, `from.*`, `to.*`, `owner.*`/`user.*`, `account.*`), the
subject, text and HTML bodies rendered by Jinja2 from `email_templates/voicemail_to_email/` (or the
operator's folder), and the recording attached under Kazoo's file name with its stored content type, unless
the box says not to or it is larger than the configured cap."""
from __future__ import annotations

import email.message
import email.utils
import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from .._data import email_templates_folder
from ..storage.dbnames import gregorian_now
from ..voicemail import message_docs
from ..voicemail.accounts import Account
from ..voicemail.audio import extension

JSON = dict[str, Any]
TEMPLATE = "voicemail_to_email"
DEFAULT_SUBJECT = "New voicemail from {{caller_id.name_number}}"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recording:
    """The stored audio of a message: its content type, size and, when it is attached, its bytes."""
    content_type: str
    size: int
    data: bytes | None


@dataclass
class Email:
    sender: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    attachment_name: str | None
    attachment_type: str | None
    attachment: bytes | None
    message_id: str

    def message(self) -> email.message.EmailMessage:
        """multipart/mixed: multipart/alternative (text, HTML) and the recording (teletype_util:send_email)."""
        mail = email.message.EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Subject"] = self.subject
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = self.message_id
        mail.set_content(self.text)
        mail.add_alternative(self.html, subtype="html")
        if self.attachment is not None and self.attachment_type and self.attachment_name:
            maintype, _, subtype = self.attachment_type.partition("/")
            mail.add_attachment(self.attachment, maintype=maintype, subtype=subtype or "octet-stream",
                                filename=self.attachment_name)
        return mail


class Templates:
    """The shipped templates, each replaceable by a file of the same name in `override` (KAZOO_VM_EMAIL_TEMPLATES)."""

    def __init__(self, override: str | None = None):
        self.override = Path(override) if override else None
        self.env = jinja2.Environment(loader=jinja2.FunctionLoader(self._load), autoescape=False,
                                      keep_trailing_newline=True)
        self.html_env = jinja2.Environment(loader=jinja2.FunctionLoader(self._load), autoescape=True,
                                           keep_trailing_newline=True)

    def _load(self, name: str) -> str | None:
        if self.override is not None:
            mine = self.override.joinpath(*name.split("/"))
            if mine.is_file():
                return mine.read_text(encoding="utf-8")
        shipped = email_templates_folder().joinpath(*name.split("/"))
        return shipped.read_text(encoding="utf-8") if shipped.is_file() else None

    def render(self, data: JSON) -> tuple[str, str, str]:
        """(subject, text, html). A template that cannot be rendered raises jinja2.TemplateError."""
        try:
            subject_template = self.env.get_template(f"{TEMPLATE}/subject.txt")
        except jinja2.TemplateNotFound:
            subject_template = self.env.from_string(DEFAULT_SUBJECT)
        subject = " ".join(subject_template.render(data).split())
        text = self.env.get_template(f"{TEMPLATE}/text.txt").render(data)
        html = self.html_env.get_template(f"{TEMPLATE}/html.html").render(data)
        return subject, text, html


def name_number(name: Any, number: Any) -> str:
    """`Name(Number)`, or one of them when the other is missing, `unknown` or the same."""
    name = str(name or "").strip()
    number = str(number or "").strip()
    if not name or name.lower() == UNKNOWN:
        return number or name or UNKNOWN
    if not number or number.lower() == UNKNOWN or number == name:
        return name
    return f"{name}({number})"


def hms(milliseconds: Any) -> str:
    """`HH:MM:SS` of a length in milliseconds; `00:00:00` when there is none."""
    try:
        seconds = max(0, int(milliseconds) // 1000)
    except (TypeError, ValueError):
        seconds = 0
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def timezone_of(box: JSON, owner: JSON | None, account: Account) -> str | None:
    """The box's timezone, else the owner's, else the account's (kzd_voicemail_box:timezone/1)."""
    return box.get("timezone") or (owner or {}).get("timezone") or account.timezone


def attachment_name(caller: str, local_moment: str, content_type: str) -> str:
    """`<caller>_<YYYY-MM-DD_HH:MM:SS>.<ext>`, lower-cased, spaces as `_`, URL-encoded (get_file_name/2)."""
    name = f"{caller}_{local_moment}.{extension(content_type)}".lower().replace(" ", "_")
    return quote(name, safe="")


def template_data(account: Account, box: JSON, owner: JSON | None, doc: JSON,
                  recording: Recording | None, attached: str | None, too_large: bool) -> JSON:
    metadata = doc.get("metadata") or {}
    timestamp = metadata.get("timestamp") if message_docs.nameable(metadata.get("timestamp")) \
        else doc.get("utc_seconds") if message_docs.nameable(doc.get("utc_seconds")) else gregorian_now()
    zone = timezone_of(box, owner, account)
    local, known = message_docs.local_time(timestamp, zone)
    utc, _ = message_docs.local_time(timestamp, None)
    owner = owner or {}
    voicemail: JSON = {
        "vmbox_id": box.get("_id"), "box": box.get("_id"),
        "vmbox_name": box.get("name"), "vmbox_number": box.get("mailbox"),
        "vmbox_include_message_on_notify": include_message(box),
        "msg_id": doc.get("_id"), "name": doc.get("_id"),
        "length": hms(metadata.get("length")),
    }
    transcription = (doc.get("transcription") or {}).get("text") if isinstance(doc.get("transcription"), dict) \
        else None
    if transcription and box.get("include_transcription_on_notify", True) is not False:
        voicemail["transcription"] = transcription
    if recording is not None and attached:
        voicemail.update(file_name=attached, file_type=recording.content_type, file_size=recording.size)
    if recording is not None and too_large:
        voicemail.update(file_too_large=True, file_size=recording.size, file_type=recording.content_type)
    caller_name, caller_number = metadata.get("caller_id_name"), metadata.get("caller_id_number")
    return {
        "voicemail": voicemail,
        "caller_id": {"name": caller_name, "number": caller_number,
                      "name_number": name_number(caller_name, caller_number)},
        "callee_id": {"name": "", "number": "", "name_number": ""},
        "date_called": {"utc": f"{utc:%Y-%m-%d %H:%M:%S}", "local": f"{local:%Y-%m-%d %H:%M:%S}",
                        "timezone": zone if known else "UTC", "timestamp": timestamp},
        "from": {"user": metadata.get("from_user") or caller_number, "realm": metadata.get("from_realm")},
        "to": {"user": metadata.get("to_user"), "realm": metadata.get("to_realm")},
        "call_id": metadata.get("call_id"),
        "owner": {key: owner.get(key) for key in ("first_name", "last_name", "email", "timezone")},
        "user": {key: owner.get(key) for key in ("first_name", "last_name", "email", "timezone")},
        "account": {"name": account.name, "realm": account.realm, "id": account.id, "timezone": account.timezone},
        "system": {"hostname": socket.gethostname()},
        "_local": f"{local:%Y-%m-%d_%H:%M:%S}",
    }


def include_message(box: JSON) -> bool:
    """include_message_on_notify, else the legacy should_include_attachment; true by default."""
    value = box.get("include_message_on_notify", box.get("should_include_attachment", True))
    return value is not False


def caller_for_file(doc: JSON) -> str:
    metadata = doc.get("metadata") or {}
    for value in (metadata.get("caller_id_name"), metadata.get("caller_id_number"), metadata.get("from_user")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "Unknown"


def compose(templates: Templates, sender: str, recipients: list[str], account: Account, box: JSON,
            owner: JSON | None, doc: JSON, recording: Recording | None, max_attachment: int) -> Email:
    """The email; `recording` None when the message has no audio, its `data` None when not attached."""
    attach = recording is not None and include_message(box)
    too_large = attach and recording.size > max_attachment
    attached = None
    if attach and not too_large:
        local = template_data(account, box, owner, doc, None, None, False)["_local"]
        attached = attachment_name(caller_for_file(doc), local, recording.content_type)
    data = template_data(account, box, owner, doc, recording, attached, bool(too_large))
    subject, text, html = templates.render(data)
    digest = hashlib.sha256(f"{account.id}/{doc.get('_id')}".encode()).hexdigest()[:32]
    sender_domain = sender.rpartition("@")[2] or "kazoo-vm"
    return Email(sender, recipients, subject, text, html, attached,
                 recording.content_type if attached else None,
                 recording.data if attached and recording is not None else None,
                 f"<voicemail-{digest}@{sender_domain}>")
