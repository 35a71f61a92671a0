"""A service killed (SIGKILL) while it mails a new voicemail: killed after the SMTP server kept the mail but
before the service heard so, the mail is sent once more (the README's one-extra-mail window); killed before
the mail reached the server, exactly one mail. Real `kazoo-vm serve` processes, a real SMTP server."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile

import aiohttp
import pytest

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.notifications.records import DB, record_id

from email_helpers import SmtpServer
from message_helpers import stored, upload_message
from test_email import api  # noqa: F401 - the account fixture that removes the email records too

pytestmark = pytest.mark.slow
CLAIM_SECONDS = 35  # KAZOO_VM_EMAIL_TIMEOUT (5) + 30


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def serve(couch_url, smtp_server, api):  # noqa: F811
    """Starts `kazoo-vm serve` processes with email on; stops what is left before the account's cleanup."""
    started: list[subprocess.Popen] = []

    async def start() -> subprocess.Popen:
        port = free_port()
        env = {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url, "KAZOO_VM_PORT": str(port),
               "KAZOO_VM_SMTP_URL": smtp_server.url, "KAZOO_VM_EMAIL_FROM": "vm@example.com",
               "KAZOO_VM_EMAIL_TIMEOUT": "5", "KAZOO_VM_EMAIL_RETRY_SECONDS": "0.5",
               "KAZOO_VM_EVENTS_POLL_SECONDS": "0.3"}
        log = tempfile.TemporaryFile()
        process = subprocess.Popen([sys.executable, "-m", "kazoo_vm", "serve"], env=env, stdout=log, stderr=log)
        started.append(process)
        await followed_everything(f"http://127.0.0.1:{port}")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()


async def followed_everything(base: str, timeout: float = 60.0) -> None:
    """Wait until the process answers, mails, and follows every account it knows of."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            assert asyncio.get_running_loop().time() < deadline, "the service did not start following"
            try:
                async with http.get(f"{base}/v2/health") as resp:
                    data = (await resp.json())["data"]
                events, email = data.get("events", {}), data.get("email", {})
                if email.get("enabled") and email.get("accounts_followed") and \
                        events.get("accounts_followed", 0) >= email["accounts_followed"]:
                    return
            except (aiohttp.ClientError, OSError, KeyError, ValueError):
                pass
            await asyncio.sleep(0.2)


async def record(couch, api, message_id: str) -> dict | None:
    return await couch.get_or_none(DB, record_id(api.account_id, message_id))


async def until(check, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.2)


async def test_killed_after_the_server_kept_the_mail_sends_it_once_more(serve, api, couch, smtp_server):  # noqa: F811
    box = await api.create_box(notify_email_addresses=["crash@example.com"], save_after_notify=True)
    first = await serve()
    smtp_server.hold_data = 1  # the server keeps the first mail and never says 250
    message_id = (await upload_message(api, box["id"])).data["media_id"]
    await smtp_server.wait_for(1, timeout=60)
    first.kill()
    first.wait()
    left = await record(couch, api, message_id)
    assert not left["done"] and left["accepted"] == [] and left["claim"], left  # claimed, nothing recorded sent
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "new"
    await serve()

    async def done() -> bool:
        return bool((await record(couch, api, message_id) or {}).get("done"))
    await until(done, CLAIM_SECONDS + 30)
    await asyncio.sleep(1.0)
    assert len(smtp_server.received) == 2, "one extra mail, no more"
    assert smtp_server.received[0].message["Message-ID"] == smtp_server.received[1].message["Message-ID"]
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "saved"


async def test_killed_before_the_mail_reached_the_server_sends_exactly_one(serve, api, couch,  # noqa: F811
                                                                          smtp_server):
    box = await api.create_box(notify_email_addresses=["crash@example.com"], delete_after_notify=True)
    first = await serve()
    smtp_server.hold_rcpt = 1  # the first attempt hangs before the server has the mail
    message_id = (await upload_message(api, box["id"])).data["media_id"]

    async def held() -> bool:
        return bool(smtp_server.refused)
    await until(held, 60)
    first.kill()
    first.wait()
    assert smtp_server.received == []
    await serve()

    async def done() -> bool:
        return bool((await record(couch, api, message_id) or {}).get("done"))
    await until(done, CLAIM_SECONDS + 30)
    await asyncio.sleep(1.0)
    assert len(smtp_server.received) == 1
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "deleted"
