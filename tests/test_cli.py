"""`kazoo-vm` as a user runs it: a subprocess against the test CouchDB."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db, encoded

pytestmark = pytest.mark.slow


def run(*args: str, couch_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url}
    return subprocess.run([sys.executable, "-m", "kazoo_vm", *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
async def cli(couch_url, couch):
    """Runs `kazoo-vm accounts create`; deletes every account it made afterwards."""
    made: list[str] = []

    def create(*args: str) -> subprocess.CompletedProcess:
        result = run("accounts", "create", *args, couch_url=couch_url)
        if result.returncode == 0:
            made.append(json.loads(result.stdout)["id"])
        return result

    yield create
    for account_id in made:
        await couch.db_delete(account_db(account_id))
        doc = await couch.get_or_none(ACCOUNTS_DB, account_id)
        if doc:
            await couch.delete(ACCOUNTS_DB, account_id, doc["_rev"])


def created(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


async def test_accounts_create_prints_one_object_and_stores_the_account(cli, couch):
    account = created(cli("--name", "Acme Corp", "--realm", "acme.example.com"))
    assert set(account) == {"id", "name", "realm", "api_key"}
    assert account["name"] == "Acme Corp" and account["realm"] == "acme.example.com"
    assert len(account["id"]) == 32 and len(account["api_key"]) >= 32
    for db in (ACCOUNTS_DB, account_db(account["id"])):
        doc = await couch.get(db, account["id"])
        assert doc["pvt_type"] == "account" and doc["name"] == "Acme Corp"
        assert doc["realm"] == "acme.example.com" and doc["pvt_api_key"] == account["api_key"]
        assert doc["pvt_tree"] == [] and doc["pvt_account_id"] == account["id"]
        assert doc["pvt_account_db"] == encoded(account_db(account["id"]))
    assert await couch.get_or_none(account_db(account["id"]), "_design/vmboxes")


async def test_default_realm_is_derived_and_unique(cli):
    first, second = created(cli("--name", "Same Name")), created(cli("--name", "Same Name"))
    assert first["realm"] and second["realm"] and first["realm"] != second["realm"]


async def test_child_account_carries_its_parents_tree(cli, couch):
    top = created(cli("--name", "Reseller"))
    middle = created(cli("--name", "Customer", "--parent", top["id"]))
    bottom = created(cli("--name", "Branch", "--parent", middle["id"]))
    for db in (ACCOUNTS_DB, account_db(bottom["id"])):
        assert (await couch.get(db, bottom["id"]))["pvt_tree"] == [top["id"], middle["id"]]
    assert (await couch.get(ACCOUNTS_DB, middle["id"]))["pvt_tree"] == [top["id"]]


async def test_api_key_from_the_cli_gets_a_token(cli, api):
    account = created(cli("--name", "Via CLI"))
    response = await api.put("/v2/api_auth", json={"data": {"api_key": account["api_key"]}}, token=None)
    assert response.status == 201 and response.data["account_id"] == account["id"]


@pytest.mark.parametrize("parent", ["0" * 32, "not-an-id"])
async def test_unknown_parent_fails_with_one_line(cli, couch, parent):
    result = cli("--name", "Orphan", "--parent", parent)
    assert result.returncode != 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and parent in result.stderr
    rows = await couch.view(ACCOUNTS_DB, "kazoo_vm_accounts", "by_api_key", include_docs=True)
    assert "Orphan" not in [row["doc"]["name"] for row in rows["rows"]]


@pytest.mark.parametrize("command", [[], ["serve"], ["dev"], ["accounts"], ["accounts", "create"]])
def test_every_command_has_help(couch_url, command):
    result = run(*command, "--help", couch_url=couch_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kazoo-vm") and result.stderr == ""


@pytest.mark.parametrize("args", [[], ["accounts"], ["accounts", "create"], ["nonsense"]])
def test_incomplete_commands_fail_with_usage(couch_url, args):
    result = run(*args, couch_url=couch_url)
    assert result.returncode != 0 and "usage: kazoo-vm" in result.stderr


def test_unreachable_couchdb_is_one_clear_line():
    url = f"http://admin:hunter2pw@127.0.0.1:{free_port()}"
    result = run("accounts", "create", "--name", "Nowhere", couch_url=url)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CouchDB" in lines[0] and "127.0.0.1" in lines[0] and "hunter2pw" not in lines[0]
