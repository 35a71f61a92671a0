"""`kazoo-vm migrate` as an operator runs it (issue 5): a subprocess against the test CouchDB, moving the
Kazoo 3.x messages of whole accounts into the monthly databases, reporting what it did, safe to stop
and run again."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db, gregorian_now, modb, year_month
from legacy_helpers import (DAY, MISSING, LegacyData, assert_migrated, failed_entry, legacy_message,
                            migrated_copies, mp3_message, new_id_of, recent, revisions, write_half_migrated)

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-m", "kazoo_vm", "migrate"]


@pytest.fixture
async def legacy(couch):
    """3.x data; the monthly databases the command may create for it are removed afterwards."""
    data = LegacyData(couch)
    yield data
    await data.drop_modbs()


@pytest.fixture
def env(couch_url) -> dict:
    return {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url}


@pytest.fixture
def migrate(env):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*COMMAND, *args], env=env, capture_output=True, text=True, timeout=180)
    return run


def summary(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout)


def counts(processed: int, succeeded: int, failed: int, no_ids: int) -> dict:
    return {"processed": processed, "succeeded": succeeded, "failed": failed, "no_ids": no_ids}


async def box_messages(couch, account_id: str, box: dict) -> list:
    return (await couch.get(account_db(account_id), box["_id"]))["messages"]


async def edge_case_account(api, legacy) -> dict:
    """Boxes with 0, 1 and 25 legacy messages, and one of every edge case; what the migration should do."""
    account = api.account_id
    t1, t2, t3, t4 = recent(7), recent(9), recent(10), gregorian_now() - 730 * DAY
    many = [legacy_message(account, recent(index * 30), seed=index) for index in range(25)]
    one = [mp3_message(account, recent(2))]
    duplicated = legacy_message(account, recent(8))
    edge = [(legacy_message(account, str(t1), modified=t1 - 3 * DAY), t1),  # a string timestamp
            (legacy_message(account, MISSING, modified=t2), t2),
            (legacy_message(account, "undefined", created=t3, modified=MISSING), t3),
            (legacy_message(account, t4), t4),  # two years ago: its month's database is created
            (duplicated, duplicated.entry["timestamp"])]
    no_media_id = legacy_message(account, recent(11), media_id=MISSING)
    no_media = legacy_message(account, recent(12), media=False)
    no_attachment = legacy_message(account, recent(13), audio=None)
    again = legacy_message(account, recent(14), media_id=duplicated.media_id, media=False)
    edge_entries = [*(message for message, _ in edge), no_media_id, no_media, no_attachment, again]
    return {
        "boxes": {"empty": await legacy.box(account, []), "one": await legacy.box(account, one),
                  "many": await legacy.box(account, many), "edge": await legacy.box(account, edge_entries)},
        "moved": {"one": [(m, m.entry["timestamp"]) for m in one],
                  "many": [(m, m.entry["timestamp"]) for m in many], "edge": edge},
        "left": [failed_entry(no_media_id, "no_media_id"), failed_entry(no_media, "missing_audio"),
                 failed_entry(no_attachment, "missing_audio")],
        "counts": counts(1 + 25 + len(edge_entries), 1 + 25 + len(edge) + 1, 2, 1),
    }


async def assert_account_migrated(couch, account_id: str, plan: dict) -> None:
    for name, moved in plan["moved"].items():
        for message, timestamp in moved:
            await assert_migrated(couch, account_id, plan["boxes"][name]["_id"], message, timestamp)
    for name in ("empty", "one", "many"):
        assert await box_messages(couch, account_id, plan["boxes"][name]) == []
    assert await box_messages(couch, account_id, plan["boxes"]["edge"]) == plan["left"]


def test_help_describes_every_option(env, migrate):
    result = migrate("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--account", "--all", "--box", "--dry-run", "--workers", "--batch", "--json"):
        assert option in result.stdout
    top = subprocess.run([sys.executable, "-m", "kazoo_vm", "--help"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert "migrate" in top.stdout


async def test_an_account_is_migrated_and_counted(api, couch, legacy, migrate):
    plan = await edge_case_account(api, legacy)

    result = migrate("--account", api.account_id, "--json")

    assert result.returncode == 1, result.stderr  # two entries failed
    assert summary(result) == {"accounts": {api.account_id: plan["counts"]}, "total": plan["counts"]}
    await assert_account_migrated(couch, api.account_id, plan)
    expected = {message.media_id: 1 for moved in plan["moved"].values() for message, _ in moved}
    assert await migrated_copies(couch, legacy, api.account_id) == expected


async def test_a_second_run_changes_nothing(api, couch, legacy, migrate):
    plan = await edge_case_account(api, legacy)
    migrate("--account", api.account_id)
    before = await revisions(couch, legacy, api.account_id)

    again = migrate("--account", api.account_id, "--json")

    assert await revisions(couch, legacy, api.account_id) == before
    assert again.returncode == 1  # what could not move is tried again, and fails again
    assert summary(again)["total"] == counts(3, 0, 2, 1)
    await assert_account_migrated(couch, api.account_id, plan)


async def test_a_rerun_moves_what_failed_once_its_audio_is_back(api, couch, legacy, migrate):
    lost = legacy_message(api.account_id, recent(0))
    media, lost.media = lost.media, None  # its recording comes back only after a first run
    box = await legacy.box(api.account_id, [lost])
    assert summary(migrate("--account", api.account_id, "--json"))["total"] == counts(1, 0, 1, 0)
    assert await box_messages(couch, api.account_id, box) == [failed_entry(lost, "missing_audio")]

    await couch.put(account_db(api.account_id), {**media, "source_id": box["_id"]})
    result = migrate("--account", api.account_id, "--json")

    assert result.returncode == 0 and summary(result)["total"] == counts(1, 1, 0, 0)
    await assert_migrated(couch, api.account_id, box["_id"], lost, lost.entry["timestamp"])
    assert await box_messages(couch, api.account_id, box) == []


async def test_the_summary_table_and_exit_code_zero_when_nothing_failed(api, couch, legacy, migrate):
    messages = [legacy_message(api.account_id, recent(index)) for index in range(3)]
    box = await legacy.box(api.account_id, messages)

    result = migrate("--account", api.account_id)

    assert result.returncode == 0, result.stderr
    table = [line.split() for line in result.stdout.splitlines()]
    assert table[0] == ["account", "processed", "succeeded", "failed", "no_ids"]
    assert [api.account_id, "3", "3", "0", "0"] in table and ["total", "3", "3", "0", "0"] in table
    for message in messages:
        await assert_migrated(couch, api.account_id, box["_id"], message, message.entry["timestamp"])


async def test_the_summary_names_what_failed(api, legacy, migrate):
    lost = legacy_message(api.account_id, recent(0), media=False)
    await legacy.box(api.account_id, [lost])
    result = migrate("--account", api.account_id)
    assert result.returncode == 1
    assert f"media {lost.media_id}: missing_audio" in result.stdout


async def test_dry_run_changes_nothing_and_reports_what_would_happen(api, couch, legacy, migrate):
    plan = await edge_case_account(api, legacy)
    before = await revisions(couch, legacy, api.account_id)

    dry = migrate("--account", api.account_id, "--dry-run", "--json")
    table = migrate("--account", api.account_id, "--dry-run")

    assert await revisions(couch, legacy, api.account_id) == before
    assert summary(dry)["total"] == plan["counts"]
    assert "dry run" in table.stdout
    for db in legacy.modbs(api.account_id):
        assert not await couch.db_exists(db), db
    real = migrate("--account", api.account_id, "--json")
    assert summary(real)["total"] == summary(dry)["total"]


async def test_box_limits_the_run_to_one_box(api, couch, legacy, migrate):
    chosen = [legacy_message(api.account_id, recent(index)) for index in range(2)]
    other = [legacy_message(api.account_id, recent(index + 5)) for index in range(3)]
    box = await legacy.box(api.account_id, chosen)
    untouched = await legacy.box(api.account_id, other)

    result = migrate("--account", api.account_id, "--box", box["_id"], "--json")

    assert result.returncode == 0, result.stderr
    assert summary(result)["total"] == counts(2, 2, 0, 0)
    for message in chosen:
        await assert_migrated(couch, api.account_id, box["_id"], message, message.entry["timestamp"])
    assert (await couch.get(account_db(api.account_id), untouched["_id"]))["_rev"] == untouched["_rev"]
    assert await migrated_copies(couch, legacy, api.account_id) == {m.media_id: 1 for m in chosen}


@pytest.mark.parametrize("args, message", [
    (["--all", "--box", "0" * 32], "--box needs --account"),
    (["--account", "0" * 32], "bad_identifier"),
    ([], "one of the arguments --account --all is required"),
    (["--account", "x", "--all"], "not allowed with argument"),
    (["--all", "--batch", "0"], "--batch: must be 1 or more"),
    (["--all", "--workers", "-2"], "--workers: must be 1 or more"),
    (["--all", "--batch", "ten"], "--batch: not a whole number"),
])
def test_wrong_arguments_are_refused(migrate, args, message):
    result = migrate(*args)
    assert result.returncode != 0 and message in result.stderr, result.stderr


async def test_an_unknown_box_is_refused(api, legacy, migrate):
    await legacy.box(api.account_id, [legacy_message(api.account_id, recent(0))])
    result = migrate("--account", api.account_id, "--box", "f" * 32)
    assert result.returncode == 1 and "bad_identifier" in result.stderr


@pytest.mark.skipif(bool(os.environ.get("KAZOO_VM_COUCHDB_URL")),
                    reason="--all would migrate every account of a shared CouchDB, not only this test's")
async def test_all_walks_every_account_and_skips_deleted_ones(new_account, couch, legacy, migrate):
    accounts = [await new_account(f"Legacy {index}") for index in range(2)]
    boxes = {}
    for index, api in enumerate(accounts):
        messages = [legacy_message(api.account_id, recent(n)) for n in range(index + 1)]
        boxes[api.account_id] = (await legacy.box(api.account_id, messages), messages)
    deleted = await new_account("Deleted")
    deleted_box = await legacy.box(deleted.account_id, [legacy_message(deleted.account_id, recent(0))])
    doc = await couch.get(ACCOUNTS_DB, deleted.account_id)
    await couch.put(ACCOUNTS_DB, {**doc, "pvt_deleted": True})

    result = migrate("--all", "--workers", "2", "--json")

    ran = summary(result)
    assert result.returncode == (1 if ran["total"]["failed"] else 0), result.stderr
    for index, api in enumerate(accounts):
        assert ran["accounts"][api.account_id] == counts(index + 1, index + 1, 0, 0)
        box, messages = boxes[api.account_id]
        for message in messages:
            await assert_migrated(couch, api.account_id, box["_id"], message, message.entry["timestamp"])
    assert deleted.account_id not in ran["accounts"]
    assert (await couch.get(account_db(deleted.account_id), deleted_box["_id"]))["_rev"] == deleted_box["_rev"]


async def test_batches_of_one_give_the_same_result(api, couch, legacy, migrate):
    """Timestamps recovered from the box, and a media id listed twice in different months, must not depend
    on how the entries are split in batches."""
    account = api.account_id
    no_time = [legacy_message(account, MISSING, created=MISSING, modified=MISSING) for _ in range(3)]
    first = legacy_message(account, recent(1))
    again = legacy_message(account, gregorian_now() - 400 * DAY, media_id=first.media_id, media=False)
    box = await legacy.box(account, [*no_time, first, again])

    result = migrate("--account", account, "--batch", "1", "--json")

    assert result.returncode == 0, result.stderr
    assert summary(result)["total"] == counts(5, 5, 0, 0)
    for message in no_time:
        await assert_migrated(couch, account, box["_id"], message, box["pvt_modified"])
    await assert_migrated(couch, account, box["_id"], first, first.entry["timestamp"])
    assert await migrated_copies(couch, legacy, account) == {m.media_id: 1 for m in [*no_time, first]}
    assert await box_messages(couch, account, box) == []


async def test_boxes_migrated_together_keep_their_own_messages_and_failures(api, couch, legacy, migrate):
    """The boxes of an account go a step at a time together (their months written once a step): each
    message lands in its own box, what cannot move stays in its own box, a media id two boxes name becomes
    one message, whatever the steps."""
    account = api.account_id
    shared = legacy_message(account, recent(3))
    boxes = {}
    for number in range(3):
        moved = [legacy_message(account, recent(index * 20 + number), seed=index) for index in range(5)]
        lost = legacy_message(account, recent(number), audio=None)
        boxes[number] = (moved, lost, await legacy.box(account, [*moved, lost, *([shared] if number == 0 else [])]))
    other = await legacy.box(account, [replace(shared, media=None)])  # the same entry, its media written once

    result = migrate("--account", account, "--batch", "2", "--json")

    assert result.returncode == 1, result.stderr  # the three without audio
    assert summary(result)["total"] == counts(3 * 6 + 2, 3 * 5 + 2, 3, 0)
    for moved, lost, box in boxes.values():
        for message in moved:
            await assert_migrated(couch, account, box["_id"], message, message.entry["timestamp"])
        assert await box_messages(couch, account, box) == [failed_entry(lost, "missing_audio")]
    copy = await couch.get(modb(account, *year_month(shared.entry["timestamp"])),
                           new_id_of(shared.media_id, shared.entry["timestamp"]))
    assert copy["source_id"] in (boxes[0][2]["_id"], other["_id"])  # the box whose step planned it first
    await assert_migrated(couch, account, copy["source_id"], shared, shared.entry["timestamp"])
    assert await box_messages(couch, account, other) == []
    assert await migrated_copies(couch, legacy, account) == {
        message.media_id: 1 for moved, _, _ in boxes.values() for message in [*moved, shared]}


@pytest.mark.parametrize("marked", [False, True], ids=["media untouched", "media marked"])
async def test_a_rerun_finishes_a_batch_that_was_stopped_half_way(api, couch, legacy, migrate, marked):
    account = api.account_id
    messages = [legacy_message(account, recent(index * 150)) for index in range(8)]
    box = await legacy.box(account, messages)
    for message in messages[:4]:
        await write_half_migrated(couch, legacy, account, box, message, marked=marked)

    result = migrate("--account", account, "--json")

    assert result.returncode == 0, result.stderr
    assert summary(result)["total"] == counts(8, 8, 0, 0)
    assert await migrated_copies(couch, legacy, account) == {message.media_id: 1 for message in messages}
    assert await box_messages(couch, account, box) == []
    for message in messages:
        await assert_migrated(couch, account, box["_id"], message, message.entry["timestamp"])


async def start(env: dict, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*COMMAND, *args, env=env, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE)


async def first_progress_line(process: asyncio.subprocess.Process) -> None:
    """Wait until the command reports progress (or ends)."""
    while line := await process.stderr.readline():
        if b"overall" in line:
            return


async def finish(process: asyncio.subprocess.Process, stop: int | None = None) -> bytes:
    """Send `stop` (if given and the command still runs), wait for the end; the rest of its stderr.
    The command never outlives the test."""
    try:
        if stop is not None and process.returncode is None:
            process.send_signal(stop)
        _, rest = await asyncio.wait_for(process.communicate(), timeout=120)
        return rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("boxes", [1, 4], ids=["one box", "boxes together"])
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
async def test_a_stopped_run_is_finished_by_the_next_one(api, couch, legacy, env, migrate, stop, boxes):
    account = api.account_id
    per_box = 40 // boxes
    messages = [legacy_message(account, recent(index * 40)) for index in range(per_box * boxes)]
    stored = [await legacy.box(account, messages[number::boxes]) for number in range(boxes)]
    process = await start(env, "--account", account, "--batch", "1")
    try:
        await asyncio.wait_for(first_progress_line(process), timeout=60)
    finally:
        rest = await finish(process, stop)
    if stop == signal.SIGINT and process.returncode != 0:  # else it had finished already
        assert process.returncode == 130 and b"run the same command again" in rest, rest

    result = migrate("--account", account, "--json")

    assert result.returncode == 0, result.stderr
    assert summary(result)["total"]["failed"] == 0
    assert await migrated_copies(couch, legacy, account) == {message.media_id: 1 for message in messages}
    for number, box in enumerate(stored):
        assert await box_messages(couch, account, box) == []
        for message in messages[number::boxes]:
            await assert_migrated(couch, account, box["_id"], message, message.entry["timestamp"])


async def test_the_command_and_requests_migrating_the_same_box_duplicate_nothing(api, couch, legacy, env):
    messages = [legacy_message(api.account_id, recent(index * 40)) for index in range(30)]
    box = await legacy.box(api.account_id, messages)
    process = await start(env, "--account", api.account_id, "--batch", "1")
    try:
        await asyncio.wait_for(first_progress_line(process), timeout=60)
        listings = await asyncio.gather(*(api.get(f"/vmboxes/{box['_id']}/messages", params={"paginate": "false"})
                                          for _ in range(2)))
    finally:
        errors = await finish(process)

    assert [response.status for response in listings] == [200, 200]
    assert process.returncode == 0, errors
    assert await migrated_copies(couch, legacy, api.account_id) == {message.media_id: 1 for message in messages}
    assert await box_messages(couch, api.account_id, box) == []
    for message in messages:
        await assert_migrated(couch, api.account_id, box["_id"], message, message.entry["timestamp"])


async def test_progress_is_logged_batch_by_batch(api, legacy, migrate):
    await legacy.box(api.account_id, [legacy_message(api.account_id, recent(index)) for index in range(3)])
    result = migrate("--account", api.account_id, "--batch", "1")
    assert result.returncode == 0, result.stderr
    progress = [line.rsplit("(", 1)[-1] for line in result.stderr.splitlines() if "overall" in line]
    assert progress == ["1/3 overall)", "2/3 overall)", "3/3 overall)"]


def test_couchdb_out_of_reach_is_reported(env):
    result = subprocess.run([*COMMAND, "--all"], env={**env, "KAZOO_VM_COUCHDB_URL": f"http://127.0.0.1:{free_port()}"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "CouchDB" in result.stderr and "Traceback" not in result.stderr
