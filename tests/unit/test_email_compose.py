"""The parts of a voicemail email that need no server: who gets it (as Kazoo's teletype reads the box and the
owner), the caller's `Name(Number)`, the length, the attachment's name, the SMTP URL, the after-notify action."""
from __future__ import annotations

import pytest

from kazoo_vm.notifications import compose, smtp
from kazoo_vm.notifications.notifier import after_notify_action
from kazoo_vm.notifications.recipients import recipients
from kazoo_vm.voicemail.accounts import Account

OWNER = {"email": "owner@example.com"}


@pytest.mark.parametrize("box, owner, expected", [
    ({"notify_email_addresses": ["a@example.com"]}, None, ["a@example.com"]),
    ({"notify_email_addresses": ["a@example.com"]}, {**OWNER, "vm_to_email_enabled": True},
     ["owner@example.com", "a@example.com"]),
    ({"notify_email_addresses": ["a@example.com", "Owner@example.com"]}, {**OWNER, "vm_to_email_enabled": False},
     ["a@example.com"]),
    ({"notify_email_addresses": ["owner@example.com"]}, OWNER, []),  # absent counts as false
    ({"notify_email_addresses": ["owner@example.com"]}, {"vm_to_email_enabled": True}, ["owner@example.com"]),
    ({"notify_email_address": "legacy@example.com"}, None, ["legacy@example.com"]),
    ({"notify_email_addresses": [], "notify_email_address": "legacy@example.com"}, None, []),
    ({"notify_email_addresses": ["a@example.com", "a@example.com", "no-at-sign", "two@@x"]}, None,
     ["a@example.com"]),
    ({}, {**OWNER, "vm_to_email_enabled": True}, ["owner@example.com"]),
    ({}, None, []),
])
def test_recipients(box, owner, expected):
    assert recipients(box, owner) == expected


@pytest.mark.parametrize("name, number, expected", [
    ("Alice", "6001", "Alice(6001)"), ("", "6001", "6001"), ("unknown", "6001", "6001"),
    ("Alice", "unknown", "Alice"), ("6001", "6001", "6001"), (None, None, "unknown"),
])
def test_name_number(name, number, expected):
    assert compose.name_number(name, number) == expected


def test_length_and_attachment_name():
    assert compose.hms(7470) == "00:00:07" and compose.hms(3_723_000) == "01:02:03" and compose.hms(None) == "00:00:00"
    assert compose.attachment_name("Alice Smith", "2026-11-30_08:05:09", "audio/mpeg") == \
        "alice_smith_2026-11-30_08%3A05%3A09.mp3"
    assert compose.attachment_name("6001", "2026-11-30_08:05:09", "audio/x-wav").endswith(".wav")


def test_the_timezone_is_the_box_s_else_the_owner_s_else_the_account_s():
    account = Account("a" * 32, "A", "realm", (), "Europe/Paris")
    assert compose.timezone_of({"timezone": "Asia/Tokyo"}, {"timezone": "UTC"}, account) == "Asia/Tokyo"
    assert compose.timezone_of({}, {"timezone": "America/Chicago"}, account) == "America/Chicago"
    assert compose.timezone_of({}, None, account) == "Europe/Paris"


def test_smtp_urls():
    plain = smtp.SmtpTarget.parse("smtp://user:p%40ss@mail.example.com:2525")
    assert (plain.host, plain.port, plain.username, plain.password, plain.implicit_tls, plain.starttls) == \
        ("mail.example.com", 2525, "user", "p@ss", False, None)
    assert smtp.SmtpTarget.parse("smtp://mail.example.com?starttls=true").starttls is True
    tls = smtp.SmtpTarget.parse("smtps://mail.example.com")
    assert (tls.port, tls.implicit_tls) == (465, True)
    assert "p@ss" not in repr(plain) and "user" not in plain.describe()
    for bad in ("http://mail.example.com", "smtp://", "smtp://host:notaport"):
        with pytest.raises(smtp.BadSmtpUrl):
            smtp.SmtpTarget.parse(bad)


@pytest.mark.parametrize("box, action", [({}, "nothing"), ({"save_after_notify": True}, "save"),
                                         ({"delete_after_notify": True}, "delete"),
                                         ({"save_after_notify": True, "delete_after_notify": True}, "save")])
def test_after_notify_action(box, action):
    assert after_notify_action(box) == action


def test_an_operator_template_replaces_the_shipped_one(tmp_path):
    folder = tmp_path / "voicemail_to_email"
    folder.mkdir()
    (folder / "subject.txt").write_text("Voicemail for {{voicemail.vmbox_name}}")
    account = Account("a" * 32, "A", "realm", (), None)
    doc = {"_id": "202611-" + "b" * 32, "metadata": {"caller_id_name": "<b>Eve</b>", "timestamp": 63_900_000_000}}
    mail = compose.compose(compose.Templates(str(tmp_path)), "vm@example.com", ["x@example.com"], account,
                           {"_id": "box", "name": "Sales"}, None, doc, None, 10)
    assert mail.subject == "Voicemail for Sales"
    assert "<b>Eve</b>" in mail.text and "&lt;b&gt;Eve&lt;/b&gt;" in mail.html  # HTML is escaped, text is not
