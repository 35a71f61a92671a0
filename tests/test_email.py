"""New voicemail by email (issue 16), through the real app and a real SMTP server (aiosmtpd): recipients,
subject, both bodies and the recording attached byte for byte; a message Kazoo writes straight into CouchDB;
the after-notify actions, and nothing changed while the SMTP server refuses; retries; one mail per message
with two instances and with replayed events. The API is served by the session service (events and email
off); the mail comes from instances of their own started here."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from dataclasses import replace
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.http.app import make_app
from kazoo_vm.http.context import NOTIFICATIONS
from kazoo_vm.http.webhooks import WEBHOOKS
from kazoo_vm.notifications.records import DB, record_id
from kazoo_vm.notifications.service import Notifications
from kazoo_vm.storage import NotFound
from kazoo_vm.storage.dbnames import account_db, gregorian_now, gregorian_to_datetime, modb, year_month

from email_helpers import SmtpServer
from message_helpers import audio_bytes, create_modb, kazoo_message, modb_of, stored, upload_message
from webhook_helpers import Receiver, delete_events_state, delete_hooks

FAST = dict(events=True, events_poll_seconds=0.3, email_from="voicemail@kazoo-vm.test",
            email_retry_seconds=(0.5, 0.5, 0.5), email_timeout=5.0)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


async def start_instance(settings, smtp_server, **overrides):
    port = free_port()
    app = make_app(replace(settings, port=port, **{**FAST, "smtp_url": smtp_server.url, **overrides}))
    app[NOTIFICATIONS].accounts_seconds = 0.3
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def instances(settings, smtp_server, api):
    """Starts instances with email on. They need `api` so that they stop before the account's cleanup deletes
    the checkpoints and email records they may still be writing (a conflict on a cluster)."""
    runners = []

    async def start(**overrides):
        runners.append(await start_instance(settings, smtp_server, **overrides))
        return runners[-1].app

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def mail_app(instances):
    return await instances()


@pytest.fixture
async def api(new_account, couch):
    account = await new_account(timezone="America/New_York")
    yield account
    await delete_events_state(couch, account.account_id)
    await couch.db_delete(modb(account.account_id, *year_month(gregorian_now())))
    try:
        rows = (await couch.request("GET", f"{DB}/_all_docs", params={
            "startkey": f'"email:{account.account_id}:"', "endkey": f'"email:{account.account_id}:\ufff0"'}))["rows"]
    except NotFound:
        rows = []  # no instance sent anything yet
    for row in rows:
        await couch.delete(DB, row["id"], row["value"]["rev"])


async def followed(*apps, account_id: str, timeout: float = 45.0) -> None:
    """Wait until some instance follows the account's databases (its lease holder)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(account_id in app[WEBHOOKS].pipeline.initialized for app in apps):
        assert asyncio.get_running_loop().time() < deadline, [app[WEBHOOKS].status() for app in apps]
        await asyncio.sleep(0.05)


async def add_owner(couch, api, **fields) -> dict:
    """A user document as Kazoo stores it in the account database."""
    doc = {"_id": secrets.token_hex(16), "pvt_type": "user", "first_name": "Olive", "last_name": "Owner",
           "username": "olive", "pvt_account_id": api.account_id, **fields}
    await couch.put(account_db(api.account_id), doc)
    return doc


async def record_of(couch, api, message_id: str, done: bool = True, timeout: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        doc = await couch.get_or_none(DB, record_id(api.account_id, message_id))
        if doc is not None and (doc.get("done") or not done):
            return doc
        assert asyncio.get_running_loop().time() < deadline, doc
        await asyncio.sleep(0.1)


async def test_a_new_message_gets_one_email_with_recipients_subject_bodies_and_the_recording(
        mail_app, api, couch, smtp_server):
    owner = await add_owner(couch, api, email="olive@example.com", vm_to_email_enabled=True)
    box = await api.create_box(name="Reception", mailbox="3000", owner_id=owner["_id"],
                               notify_email_addresses=["front@example.com", "olive@example.com"])
    await followed(mail_app, account_id=api.account_id)
    response = await upload_message(api, box["id"], "mp3", metadata={"caller_id_number": "6001",
                                                                     "caller_id_name": "Alice Smith"})
    assert response.status == 201, response.json
    message_id = response.data["media_id"]
    mails = await smtp_server.wait_for(1)
    assert len(mails) == 1
    mail = mails[0]
    assert mail.recipients == ["olive@example.com", "front@example.com"]  # owner first, once
    assert mail.sender == "voicemail@kazoo-vm.test"
    message = mail.message
    assert message["Subject"] == "New voicemail from Alice Smith(6001)"
    assert message["To"] == "olive@example.com, front@example.com"
    doc = await stored(couch, api, message_id)
    local = gregorian_to_datetime(doc["metadata"]["timestamp"]).astimezone(ZoneInfo("America/New_York"))
    for body in (mail.body("plain"), mail.body("html")):
        assert "Alice Smith(6001)" in body and "Reception" in body and "3000" in body
        assert f"{local:%Y-%m-%d %H:%M:%S}" in body and "America/New_York" in body
        assert "00:00:07" in body  # the mp3 plays 7.47 s
    (attachment,) = mail.attachments()
    name = quote(f"alice_smith_{local:%Y-%m-%d_%H:%M:%S}.mp3", safe="")
    assert attachment.get_filename() == name and ":" not in name
    assert attachment.get_content_type() == "audio/mpeg"
    assert attachment.get_content() == audio_bytes("mp3")
    record = await record_of(couch, api, message_id)
    assert record["state"] == "sent" and record["accepted"] == ["olive@example.com", "front@example.com"]
    await asyncio.sleep(1.5)
    assert len(smtp_server.received) == 1
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "new"  # neither action set


async def test_a_message_kazoo_writes_straight_into_couchdb_gets_its_email(mail_app, api, couch, service,
                                                                           smtp_server):
    box = await api.create_box(notify_email_addresses=["kazoo@example.com"], include_message_on_notify=True)
    now = gregorian_now()
    await create_modb(service, api, *year_month(now))
    await followed(mail_app, account_id=api.account_id)
    doc = kazoo_message(api, box, now, "cd" * 16)
    await couch.put(modb_of(api, doc["_id"]), doc)  # kvm_message: the document first ...
    await couch.put_attachment(modb_of(api, doc["_id"]), doc["_id"], doc["_rev"], "cd.mp3", "audio/mpeg",
                               audio_bytes("mp3"))  # ... then FreeSWITCH stores the recording
    (mail,) = await smtp_server.wait_for(1)
    assert mail.recipients == ["kazoo@example.com"]
    assert mail.message["Subject"] == "New voicemail from userC userC(10202)"
    (attachment,) = mail.attachments()
    assert attachment.get_content() == audio_bytes("mp3") and attachment.get_content_type() == "audio/mpeg"
    assert attachment.get_filename().startswith("userc_userc_") and attachment.get_filename().endswith(".mp3")
    assert "00:00:00" in mail.body("plain")  # length 970 ms


@pytest.mark.parametrize("save, delete, folder", [(True, False, "saved"), (False, True, "deleted"),
                                                  (True, True, "saved"), (False, False, "new")])
async def test_after_notify_actions(mail_app, api, couch, smtp_server, save, delete, folder):
    box = await api.create_box(notify_email_addresses=["a@example.com"], save_after_notify=save,
                               delete_after_notify=delete)
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    await smtp_server.wait_for(1)
    record = await record_of(couch, api, message_id)
    assert record["action_applied"] and record["action"] == {"saved": "save", "deleted": "delete"}.get(folder,
                                                                                                       "nothing")
    doc = await stored(couch, api, message_id)
    assert doc["metadata"]["folder"] == folder
    assert not doc.get("pvt_deleted")  # delete_after_notify is a folder, not a soft delete
    listed = await api.get(f"/vmboxes/{box['id']}/messages/{message_id}")
    assert listed.data["folder"] == folder


async def test_nothing_changes_while_the_server_refuses_then_the_retry_sends_and_acts_once(
        mail_app, api, couch, smtp_server):
    smtp_server.refuse["later@example.com"] = "451 4.3.0 try again later"
    box = await api.create_box(notify_email_addresses=["later@example.com"], save_after_notify=True)
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    deadline = asyncio.get_running_loop().time() + 30
    while len(smtp_server.refused) < 2:  # the first attempt and its first retry
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    record = await record_of(couch, api, message_id, done=False)
    assert record["state"] == "retrying" and record["pending"] == ["later@example.com"]
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "new"
    assert smtp_server.received == []
    del smtp_server.refuse["later@example.com"]
    (mail,) = await smtp_server.wait_for(1)
    record = await record_of(couch, api, message_id)
    assert record["state"] == "sent" and record["action_applied"]
    doc = await stored(couch, api, message_id)
    assert doc["metadata"]["folder"] == "saved"
    await asyncio.sleep(1.5)
    assert len(smtp_server.received) == 1


async def test_a_permanent_refusal_is_not_retried_and_the_others_still_get_it(mail_app, api, couch, smtp_server):
    smtp_server.refuse["gone@example.com"] = "550 5.1.1 no such user"
    box = await api.create_box(notify_email_addresses=["gone@example.com", "here@example.com"],
                               delete_after_notify=True)
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    (mail,) = await smtp_server.wait_for(1)
    assert mail.recipients == ["here@example.com"]
    record = await record_of(couch, api, message_id)
    assert record["refused"] == {"gone@example.com": "550 5.1.1 no such user"} and record["attempts"] == 1
    await asyncio.sleep(1.5)
    assert len(smtp_server.refused) == 1, "a 5xx recipient was tried again"
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "deleted"


async def test_one_accepted_applies_the_action_while_another_is_retried(mail_app, api, couch, smtp_server):
    smtp_server.refuse["busy@example.com"] = "451 4.7.1 greylisted"
    box = await api.create_box(notify_email_addresses=["busy@example.com", "ok@example.com"],
                               save_after_notify=True)
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    (first,) = await smtp_server.wait_for(1)
    assert first.recipients == ["ok@example.com"]
    record = await record_of(couch, api, message_id, done=False)
    deadline = asyncio.get_running_loop().time() + 30
    while not record.get("action_applied"):
        assert asyncio.get_running_loop().time() < deadline, record
        record = await record_of(couch, api, message_id, done=False)
    assert record["pending"] == ["busy@example.com"] and not record["done"]
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "saved"
    del smtp_server.refuse["busy@example.com"]
    mails = await smtp_server.wait_for(2)
    assert [mail.recipients for mail in mails] == [["ok@example.com"], ["busy@example.com"]]
    record = await record_of(couch, api, message_id)
    assert record["accepted"] == ["ok@example.com", "busy@example.com"] and record["state"] == "sent"
    await asyncio.sleep(1.5)
    assert len(smtp_server.received) == 2


async def test_all_refused_for_good_means_no_action(mail_app, api, couch, smtp_server):
    smtp_server.refuse["gone@example.com"] = "550 5.1.1 no such user"
    box = await api.create_box(notify_email_addresses=["gone@example.com"], save_after_notify=True)
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    record = await record_of(couch, api, message_id)
    assert record["state"] == "refused" and record["accepted"] == []
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "new"


async def test_recipients_as_kazoo_reads_them(mail_app, api, couch, smtp_server):
    opted_out = await add_owner(couch, api, email="quiet@example.com", vm_to_email_enabled=False)
    box = await api.create_box(owner_id=opted_out["_id"],
                               notify_email_addresses=["quiet@example.com", "team@example.com"])
    lonely = await api.create_box(owner_id=opted_out["_id"])
    await followed(mail_app, account_id=api.account_id)
    first = (await upload_message(api, box["id"])).data["media_id"]
    second = (await upload_message(api, lonely["id"])).data["media_id"]
    (mail,) = await smtp_server.wait_for(1)
    assert mail.recipients == ["team@example.com"]  # the opted-out owner is removed even when listed
    record = await record_of(couch, api, second)
    assert record["state"] == "no_recipients" and record["recipients"] == []
    assert (await record_of(couch, api, first))["state"] == "sent"
    await asyncio.sleep(1.0)
    assert len(smtp_server.received) == 1


async def test_a_recording_over_the_cap_is_not_attached_and_the_mail_says_so(instances, api, couch, smtp_server):
    app = await instances(email_max_attachment_bytes=1000)
    box = await api.create_box(notify_email_addresses=["big@example.com"])
    await followed(app, account_id=api.account_id)
    await upload_message(api, box["id"])
    (mail,) = await smtp_server.wait_for(1)
    assert mail.attachments() == []
    assert "too large to attach" in mail.body("plain") and "too large to attach" in mail.body("html")
    assert "http" not in mail.body("plain")  # links to nothing


async def test_include_message_on_notify_false_sends_no_attachment(mail_app, api, smtp_server):
    box = await api.create_box(notify_email_addresses=["plain@example.com"], include_message_on_notify=False)
    await followed(mail_app, account_id=api.account_id)
    await upload_message(api, box["id"])
    (mail,) = await smtp_server.wait_for(1)
    assert mail.attachments() == [] and "too large" not in mail.body("plain")


async def test_a_moved_message_gets_no_email(mail_app, api, smtp_server):
    box = await api.create_box(notify_email_addresses=["first@example.com"])
    other = await api.create_box(notify_email_addresses=["second@example.com"])
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    await smtp_server.wait_for(1)
    moved = await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"source_id": other["id"]}})
    assert moved.status == 200, moved.json
    copied = await api.post(f"/vmboxes/{box['id']}/messages", json={"data": {"messages": [moved.data["media_id"]],
                                                                              "source_id": [box["id"]]}})
    await asyncio.sleep(2.0)
    assert [mail.recipients for mail in smtp_server.received] == [["first@example.com"]], copied.json


async def test_two_instances_send_one_email(instances, api, couch, smtp_server):
    first, second = await instances(), await instances()
    box = await api.create_box(notify_email_addresses=["once@example.com"], save_after_notify=True)
    await followed(first, second, account_id=api.account_id)
    message_ids = [(await upload_message(api, box["id"])).data["media_id"] for _ in range(3)]
    await smtp_server.wait_for(3)
    for message_id in message_ids:
        assert (await record_of(couch, api, message_id))["state"] == "sent"
    await asyncio.sleep(2.0)
    assert sorted(mail.message["Message-ID"] for mail in smtp_server.received) == sorted(
        {mail.message["Message-ID"] for mail in smtp_server.received}) and len(smtp_server.received) == 3


async def test_a_replayed_event_sends_nothing_more(mail_app, api, couch, smtp_server):
    box = await api.create_box(notify_email_addresses=["replay@example.com"])
    await followed(mail_app, account_id=api.account_id)
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    await smtp_server.wait_for(1)
    await record_of(couch, api, message_id)
    pipeline = mail_app[WEBHOOKS].pipeline
    db = modb_of(api, message_id)
    pipeline.memory.forget_db(db)
    await pipeline.checkpoints.save(pipeline.known[db], 0)  # as after a crash before any checkpoint
    pipeline.mark(db)
    await asyncio.sleep(2.0)
    assert len(smtp_server.received) == 1


async def test_health_says_whether_email_is_on(mail_app, service, http, settings):
    base, _ = service
    async with http.get(f"{base}/v2/health") as resp:
        off = (await resp.json())["data"]["email"]
    assert off == {"enabled": False, "reason": "KAZOO_VM_SMTP_URL is not set"}
    on = mail_app[NOTIFICATIONS].status()
    assert on["enabled"] is True and on["smtp"].startswith("smtp://127.0.0.1:")


async def test_credentials_in_the_smtp_url_never_reach_health(service, settings):
    _, voicemail = service
    mail = Notifications(replace(settings, **{**FAST, "smtp_url": "smtp://mailer:s3cr3t-pass@mail.example:2525"}),
                         voicemail)
    status = mail.status()
    assert status["enabled"] and status["smtp"] == "smtp://mail.example:2525"
    assert "s3cr3t" not in repr(status) and "mailer" not in repr(status)
    assert "s3cr3t" not in repr(mail.settings) and "s3cr3t" not in repr(mail.target)
    for url, reason in ((None, "KAZOO_VM_SMTP_URL is not set"), ("http://mail.example", "KAZOO_VM_SMTP_URL must be")):
        off = Notifications(replace(settings, **{**FAST, "smtp_url": url}), voicemail).status()
        assert off["enabled"] is False and off["reason"].startswith(reason)
    off = Notifications(replace(settings, **{**FAST, "events": False, "smtp_url": "smtp://m"}), voicemail).status()
    assert off == {"enabled": False, "reason": "the event pipeline is off (KAZOO_VM_EVENTS=false)"}


def preview(couch_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url, **env}
    return subprocess.run([sys.executable, "-m", "kazoo_vm", "notify", "preview", *args], env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
async def test_notify_preview_prints_the_email_without_sending_it(api, couch, couch_url, smtp_server):
    owner = await add_owner(couch, api, email="olive@example.com", vm_to_email_enabled=True)
    box = await api.create_box(name="Support", mailbox="4000", owner_id=owner["_id"],
                               notify_email_addresses=["help@example.com"], save_after_notify=True)
    message_id = (await upload_message(api, box["id"], "mp3", metadata={"caller_id_number": "6001",
                                                                        "caller_id_name": "Bob"})).data["media_id"]
    env = {"KAZOO_VM_EMAIL_FROM": "vm@example.com", "KAZOO_VM_SMTP_URL": smtp_server.url}
    result = await asyncio.to_thread(preview, couch_url, "--account", api.account_id, "--box", box["id"],
                                     "--message", message_id, **env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "To: olive@example.com, help@example.com" in out and "From: vm@example.com" in out
    assert "Subject: New voicemail from Bob(6001)" in out and "After notify: save" in out
    assert "Support (4000)" in out  # the text body
    assert f"audio/mpeg, {len(audio_bytes('mp3'))} bytes)" in out and "Attachment: bob_" in out
    sample = await asyncio.to_thread(preview, couch_url, "--account", api.account_id, "--box", box["id"], **env)
    assert sample.returncode == 0 and "Sample Caller" in sample.stdout, sample.stderr
    missing = await asyncio.to_thread(preview, couch_url, "--account", api.account_id, "--box", box["id"],
                                      "--message", "202611-" + "0" * 32, **env)
    assert missing.returncode == 1 and missing.stderr.startswith("kazoo-vm: ") and "Traceback" not in missing.stderr
    await asyncio.sleep(0.5)
    assert smtp_server.received == []
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "new"


async def test_voicemail_saved_follows_only_when_the_message_stays_new(mail_app, api, couch, smtp_server):
    receiver = await Receiver().start()
    try:
        hook = await api.put("/webhooks", json={"data": {"name": "vm", "uri": receiver.url, "hook": "notifications",
                                                          "format": "json"}})
        assert hook.status == 201, hook.json
        keep = await api.create_box(notify_email_addresses=["keep@example.com"])
        save = await api.create_box(notify_email_addresses=["save@example.com"], save_after_notify=True)
        nobody = await api.create_box()
        await followed(mail_app, account_id=api.account_id)
        deadline = asyncio.get_running_loop().time() + 30
        while hook.data["id"] not in mail_app[WEBHOOKS].hookset.hooks:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        kept, saved, unsent = [(await upload_message(api, box["id"])).data["media_id"] for box in (keep, save, nobody)]
        await smtp_server.wait_for(2)
        for message_id in (kept, saved, unsent):
            await record_of(couch, api, message_id)
        await receiver.wait_for(5)
        await asyncio.sleep(1.5)
        got = sorted((json.loads(item.body)["event_name"], json.loads(item.body)["voicemail_id"])
                     for item in receiver.received)
        assert got == sorted([("voicemail_new", kept), ("voicemail_saved", kept), ("voicemail_new", saved),
                              ("voicemail_new", unsent), ("voicemail_saved", unsent)])
    finally:
        await receiver.stop()
        await delete_hooks(couch, [api.account_id])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # a loopback test server
async def test_smtp_credentials_are_used_and_never_logged(instances, api, couch, caplog):
    server = SmtpServer(login=("mailer", "s3cr3t-pass")).start()
    try:
        wrong = await instances(smtp_url=f"smtp://mailer:wrong-pass@127.0.0.1:{server.port}")
        box = await api.create_box(notify_email_addresses=["auth@example.com"])
        await followed(wrong, account_id=api.account_id)
        first = (await upload_message(api, box["id"])).data["media_id"]
        record = await record_of(couch, api, first, done=False)
        deadline = asyncio.get_running_loop().time() + 30
        while record.get("attempts", 0) < 1:
            assert asyncio.get_running_loop().time() < deadline, record
            record = await record_of(couch, api, first, done=False)
        assert record["pending"] == ["auth@example.com"], record  # a refused login is tried again, not given up
        assert server.received == [] and server.logins and all(login.endswith(":mailer") for login in server.logins)
        server.login = ("mailer", "wrong-pass")  # the operator fixes the server side: the retry goes through
        (mail,) = await server.wait_for(1)
        assert mail.recipients == ["auth@example.com"]
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "wrong-pass" not in logged and "s3cr3t" not in logged
        stored_record = await record_of(couch, api, first)
        assert "wrong-pass" not in json.dumps(stored_record)
    finally:
        server.stop()
