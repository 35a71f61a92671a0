"""The pytest plugin `kazoo_vm.testing` as another project uses it: a pytest session in a subprocess on test
files written here, loaded explicitly (`-p kazoo_vm.testing`) and through its `pytest11` entry point. The
inner tests write down the accounts and messages they made, so that the outer test can check that every
account was its test's own and that all of it is gone afterwards."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from yarl import URL

from kazoo_vm.devtools.local_couch import port_in_use
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db, modb
from test_ephemeral import processes_under

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "data" / "fixtures"

SYNC_TESTS = '''
import json, os, sys, threading
from pathlib import Path

from kazoo_vm.testing import wav


def record(**fields):
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps(fields) + "\\n")


def test_nothing_is_started_before_a_fixture_is_used():
    assert not any(thread.name == "kazoo-vm" for thread in threading.enumerate())
    assert "kazoo_vm.devtools.ephemeral" not in sys.modules


def test_box_and_message_with_generated_audio(kazoo_vm_client, kazoo_vm_account):
    assert kazoo_vm_client.get("/vmboxes").data == []
    box = kazoo_vm_client.create_box(name="Reception")
    message = kazoo_vm_client.create_message(box["id"], caller_id_number="6001", folder="saved")
    record(account=kazoo_vm_account.id, messages=[message["media_id"]])
    assert (message["length"], message["folder"], message["caller_id_number"]) == (1000, "saved", "6001")
    assert kazoo_vm_client.audio(box["id"], message["media_id"]) == wav()
    assert kazoo_vm_client.get(f"/vmboxes/{box['id']}/messages").data[0]["media_id"] == message["media_id"]


def test_audio_from_a_file_in_a_fresh_account(kazoo_vm_client, kazoo_vm_account, tmp_path):
    assert kazoo_vm_client.get("/vmboxes").data == []  # the previous test's box is not here
    path = tmp_path / "tone.wav"
    path.write_bytes(wav(0.5, 880))
    box = kazoo_vm_client.create_box()
    message = kazoo_vm_client.create_message(box["id"], path)
    record(account=kazoo_vm_account.id, messages=[message["media_id"]])
    assert message["length"] == 500
    assert kazoo_vm_client.audio(box["id"], message["media_id"]) == path.read_bytes()


def test_accounts_are_kept_apart(kazoo_vm_client, kazoo_vm_make_account):
    other = kazoo_vm_make_account("Other")
    child = kazoo_vm_make_account("Child", parent=kazoo_vm_client.account)
    record(account=kazoo_vm_client.account.id, others=[other.id, child.id], messages=[])
    assert kazoo_vm_client.get(f"/v2/accounts/{other.id}/vmboxes").status == 403
    assert kazoo_vm_client.get(f"/v2/accounts/{child.id}/vmboxes").status == 200
    assert kazoo_vm_client.get("/vmboxes", token=False).status == 401


def test_fixtures(kazoo_vm_client, kazoo_vm_account):
    made = kazoo_vm_client.load_fixtures(os.environ["FIXTURES"])
    names = sorted(box["name"] for box in kazoo_vm_client.get("/vmboxes").data)
    assert names == ["Old support", "Reception", "Sales"]
    legacy = made["legacy"]["old-support"]
    migrated = kazoo_vm_client.get(f"/vmboxes/{legacy['box']}/messages").data
    assert [message["media_id"].split("-")[1] for message in migrated] == legacy["media_ids"]
    record(account=kazoo_vm_account.id, couch=kazoo_vm_client.service.ephemeral.settings.couchdb_url,
           messages=list(made["messages"].values()) + [message["media_id"] for message in migrated])
'''

ASYNC_TESTS = '''
import json, os

import pytest


@pytest.mark.asyncio
async def test_from_an_async_test(kazoo_vm_client, kazoo_vm_account):
    box = kazoo_vm_client.create_box()
    message = kazoo_vm_client.create_message(box["id"])
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({"account": kazoo_vm_account.id, "messages": [message["media_id"]]}) + "\\n")
'''


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str, env: dict[str, str]) -> list[dict]:
    """Run pytest on the files in a subprocess; every test must pass; answers what the tests recorded."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    record = tmp_path / "record.jsonl"
    env = {key: value for key, value in os.environ.items() if key != "KAZOO_VM_COUCHDB_URL"} | env
    env |= {"RECORD": str(record), "FIXTURES": str(FIXTURES)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, *files],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(inner_tests(files))} passed" in result.stdout, result.stdout
    return [json.loads(line) for line in record.read_text().splitlines()]


def inner_tests(files: dict[str, str]) -> list[str]:
    return [line for text in files.values() for line in text.splitlines() if "def test_" in line]


def test_loaded_with_p_and_its_own_in_memory_couchdb(tmp_path):
    """No KAZOO_VM_COUCHDB_URL: the plugin starts a PouchDB Server, and nothing of it is left afterwards."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    recorded = run_pytest(tmp_path, {"test_harness.py": SYNC_TESTS}, "-p", "kazoo_vm.testing",
                          env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "TMPDIR": str(temporary)})
    accounts = [entry["account"] for entry in recorded]
    assert len(accounts) == 4 and len(set(accounts)) == 4
    [couch] = [URL(entry["couch"]) for entry in recorded if "couch" in entry]
    assert couch.host == "127.0.0.1" and not port_in_use(couch.host, couch.port)
    assert processes_under(temporary) == [] and list(temporary.glob("kazoo-vm-couch-*")) == []


async def test_loaded_by_its_entry_point_and_cleaned_up_on_a_shared_couchdb(tmp_path, couch_url, couch):
    """With KAZOO_VM_COUCHDB_URL (this suite's CouchDB), every account of every test, its database and the
    monthly databases of its messages are deleted after the test."""
    recorded = run_pytest(tmp_path, {"test_harness.py": SYNC_TESTS, "test_async_harness.py": ASYNC_TESTS},
                          env={"KAZOO_VM_COUCHDB_URL": couch_url})
    accounts = [entry["account"] for entry in recorded]
    assert len(accounts) == 5 and len(set(accounts)) == 5
    assert [entry["couch"] for entry in recorded if "couch" in entry] == [couch_url]
    every = accounts + [other for entry in recorded for other in entry.get("others", [])]
    databases = [account_db(account) for account in every]
    databases += [modb(entry["account"], int(message[:4]), int(message[4:6]))
                  for entry in recorded for message in entry["messages"]]
    assert len(databases) > len(every)
    for account in every:
        assert await couch.get_or_none(ACCOUNTS_DB, account) is None
    for db in databases:
        assert not await couch.db_exists(db), db


def test_this_suite_has_the_plugin_and_it_started_nothing(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("kazoo_vm")
    assert plugin is None or plugin.__name__ == "kazoo_vm.testing"
    assert not any(thread.name == "kazoo-vm" for thread in threading.enumerate())
