"""`kazoo-vm fixtures load PATH [--account ID]`: tests/data/fixtures (boxes, messages with audio, a Kazoo 3.x
box) loaded into a new or an existing account, then read back through the API and from CouchDB."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kazoo_vm.devtools.ephemeral import delete_account
from kazoo_vm.http.tokens import issue
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db, gregorian_now, modb, months_between, year_month
from kazoo_vm.devtools import fixtures as fixtures_loader

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "data" / "fixtures"
AUDIO = FIXTURES / "audio"
DAY = 86400
OLDEST_AGE = 2 * DAY  # the oldest `age` in tests/data/fixtures


async def attachment(couch, db: str, doc_id: str, name: str) -> bytes:
    async with couch.open_attachment(db, doc_id, name) as resp:
        return await resp.read()


def run(couch_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url}
    return subprocess.run([sys.executable, "-m", "kazoo_vm", "fixtures", "load", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    return json.loads(line)


@pytest.fixture
async def cleanup(service, couch):
    """Accounts the command made, and the monthly databases of the fixtures' times (the command is another
    process, so the service does not know which it created) are deleted afterwards."""
    accounts: list[str] = []
    started = gregorian_now()
    yield accounts
    _, voicemail = service
    months = months_between(year_month(started - OLDEST_AGE - DAY), year_month(gregorian_now()))
    for account_id in accounts:
        for year, month in months:
            await couch.db_delete(modb(account_id, year, month))
        await delete_account(voicemail, account_id)


async def names_in_accounts(couch) -> list[str]:
    rows = await couch.view(ACCOUNTS_DB, "kazoo_vm_accounts", "by_api_key", include_docs=True)
    return [row["doc"].get("name") for row in rows["rows"]]


async def test_into_a_new_account(couch_url, couch, api, settings, cleanup):
    out = loaded(run(couch_url, str(FIXTURES)))
    cleanup.append(out["account_id"])
    assert set(out) == {"account_id", "api_key", "boxes", "messages", "legacy"}
    assert set(out["boxes"]) == {"reception", "sales"} and set(out["messages"]) == {"hello", "callback", "lead"}
    legacy = out["legacy"]["old-support"]
    assert len(legacy["media_ids"]) == 2

    auth = await api.put("/v2/api_auth", json={"data": {"api_key": out["api_key"]}}, token=None)
    assert auth.status == 201 and auth.data["account_id"] == out["account_id"]
    client = dataclasses.replace(api, account_id=out["account_id"], api_key=out["api_key"],
                                 token=issue(settings.secret, out["account_id"], 3600))

    boxes = {box["name"]: box for box in (await client.get("/vmboxes?paginate=false")).data}
    assert set(boxes) == {"Reception", "Sales", "Old support"}
    reception = (await client.get(f"/vmboxes/{out['boxes']['reception']}")).data
    assert reception["mailbox"] == "3100" and reception["timezone"] == "America/New_York"

    listing = (await client.get(f"/vmboxes/{out['boxes']['reception']}/messages")).data
    assert [message["media_id"] for message in listing] == [out["messages"]["hello"], out["messages"]["callback"]]
    hello, callback = listing
    assert (hello["caller_id_number"], hello["folder"], hello["length"]) == ("6001", "new", 500)
    assert (callback["caller_id_name"], callback["folder"], callback["length"]) == ("Bob", "saved", 750)
    for message, file in ((hello, "hello.wav"), (callback, "callback.wav")):
        raw = await client.get(f"/vmboxes/{out['boxes']['reception']}/messages/{message['media_id']}/raw")
        assert raw.status == 200 and raw.body == (AUDIO / file).read_bytes()

    # the 3.x box is stored as 3.x stored it: the array in the box, each recording in a private_media document
    db = account_db(out["account_id"])
    box = await couch.get(db, legacy["box"])
    assert box["pvt_type"] == "vmbox" and [entry["media_id"] for entry in box["messages"]] == legacy["media_ids"]
    assert [entry["caller_id_number"] for entry in box["messages"]] == ["7001", "7002"]
    for media_id, file in zip(legacy["media_ids"], ("legacy-1.wav", "legacy-2.wav")):
        media = await couch.get(db, media_id)
        assert media["pvt_type"] == "private_media" and media["source_id"] == legacy["box"]
        [(name, stub)] = media["_attachments"].items()
        assert stub["content_type"] == "audio/wav"
        assert await attachment(couch, db, media_id, name) == (AUDIO / file).read_bytes()

    # ... until a message request migrates it
    migrated = (await client.get(f"/vmboxes/{legacy['box']}/messages")).data
    assert [message["media_id"].split("-", 1)[1] for message in migrated] == legacy["media_ids"]
    assert [message["folder"] for message in migrated] == ["new", "saved"]
    raw = await client.get(f"/vmboxes/{legacy['box']}/messages/{legacy['media_ids'][1]}/raw")
    assert raw.body == (AUDIO / "legacy-2.wav").read_bytes()
    assert not (await couch.get(db, legacy["box"])).get("messages")


async def test_into_an_existing_account(couch_url, api, cleanup):
    out = loaded(run(couch_url, str(FIXTURES), "--account", api.account_id))
    cleanup.append(api.account_id)
    assert out["account_id"] == api.account_id and out["api_key"] == api.api_key
    listing = (await api.get(f"/vmboxes/{out['boxes']['sales']}/messages")).data
    assert [message["caller_id_number"] for message in listing] == ["+15551230000"]


async def test_a_second_load_into_the_same_account_names_the_file(couch_url, api, cleanup):
    loaded(run(couch_url, str(FIXTURES), "--account", api.account_id))
    cleanup.append(api.account_id)
    again = run(couch_url, str(FIXTURES), "--account", api.account_id)
    assert again.returncode != 0 and again.stdout == ""
    [line] = again.stderr.strip().splitlines()
    assert "reception.json" in line and "mailbox" in line


def write(root: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
    return root


BOX = {"name": "Box", "mailbox": "4100"}


@pytest.mark.parametrize("files, blamed", [
    ({"boxes/a.json": "{not json"}, "a.json"),
    ({"boxes/a.json": ["a list"]}, "a.json"),
    ({"boxes/a.json": BOX, "messages/m.json": {"box": "a", "audio": "missing.wav"}}, "m.json"),
    ({"boxes/a.json": BOX, "messages/m.json": {"box": "nobox/../x"}}, "m.json"),
    ({"legacy/old.json": {"name": "Old", "messages": []}, "messages/m.json": {"box": "old"}}, "m.json"),
    ({"legacy/old.json": {"name": "Old", "messages": "none"}}, "old.json"),
    ({"boxes/a.json": BOX, "messages/m.json": {"box": "a", "age": -5}}, "m.json"),
    ({"nothing/here.json": {}}, "none of"),
])
async def test_bad_fixtures_are_refused_before_anything_is_written(couch_url, couch, tmp_path, files, blamed):
    root = write(tmp_path / f"bad-{os.urandom(4).hex()}", files)
    result = run(couch_url, str(root))
    assert result.returncode != 0 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert blamed in line
    assert f"Fixtures {root.name}" not in await names_in_accounts(couch)


async def test_a_failure_while_writing_deletes_the_new_account(couch_url, couch, tmp_path):
    root = write(tmp_path / f"half-{os.urandom(4).hex()}", {
        "boxes/a.json": BOX, "boxes/b.json": {"name": "Same mailbox", "mailbox": "04100"}})
    result = run(couch_url, str(root))
    assert result.returncode != 0 and "b.json" in result.stderr
    assert f"Fixtures {root.name}" not in await names_in_accounts(couch)


async def test_a_legacy_entry_without_audio_is_a_lost_recording(service, api, tmp_path):
    """Loaded in this process through the domain layer; the migration reports what Kazoo's data would give."""
    _, voicemail = service
    root = write(tmp_path, {"audio/ok.wav": (AUDIO / "legacy-1.wav").read_bytes(), "legacy/old.json": {
        "name": "Old", "mailbox": "4200", "messages": [{"audio": "audio/ok.wav", "age": 60, "caller_id_number": "1"},
                                                       {"age": 120, "caller_id_number": "2"}]}})
    account = await voicemail.accounts.get(api.account_id)
    made = (await fixtures_loader.load(voicemail, fixtures_loader.read(root), account)).legacy["old"]
    listing = (await api.get(f"/vmboxes/{made['box']}/messages")).data
    assert [message["caller_id_number"] for message in listing] == ["1"]
    box = await voicemail.store.client.get(account.db, made["box"])
    assert [(entry["media_id"], entry["migration_error"]) for entry in box["messages"]] == \
        [(made["media_ids"][1], "missing_audio")]
