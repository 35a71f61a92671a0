"""Bulk folder change (`POST .../messages` with `folder`), move (`source_id`) and delete (`DELETE .../messages`)
of 100 and of 1,000 messages over 3 months, and of 1,000 over 6 months, each one API request, against
the least a client talking to CouchDB needs for the same change: per month a read by ids (`_bulk_get` on
Apache CouchDB, as the service reads them; `_all_docs` on PouchDB Server) and a `_bulk_docs` (a move also
reads the audio and writes the copies into the current month). The CouchDB requests of an API request must
grow with the months, not with the messages. Each message has a 2 KB recording. Each timing is one request,
except the goal's (1,000 messages over 3 months): the median of 3, each on fresh messages.
KAZOO_VM_RETENTION_DAYS=400.
Every write makes CouchDB 3 update the view indexes of the databases it touched, in the background (and
PouchDB Server on the next query): the indexes are brought up to date after the seeding and after every
measured change, outside the timings, so that no change is measured while the indexer works for the one
before it."""
from __future__ import annotations

import secrets

from kazoo_vm.storage.dbnames import encoded, gregorian_now, modb, year_month
from kazoo_vm.voicemail.message_docs import db_of

from ..harness import Context, counted, expect, timed
from ..measure import Row, median
from ..seed import months_back, spread, wav

NAME = "bulk"
RETENTION_DAYS = 400
AUDIO = 2048
RATIO_GOAL = 1.5  # folder change and move of 1,000 messages over 3 months
RATIO_GOALS = ("folder change", "move")
GOAL_SAMPLES = 3  # the goal's rows: one request is one sample, and one sample moves by up to 0.7 between runs


def _by_db(account, ids: list[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for message_id in ids:
        grouped.setdefault(db_of(account, message_id), []).append(message_id)
    return grouped


class DirectBulk:
    """The same changes made straight in CouchDB; counts its requests."""

    def __init__(self, ctx: Context, account):
        self.ctx, self.account, self.requests = ctx, account, 0

    async def _docs(self, db: str, ids: list[str], attachments: bool = False) -> list[dict]:
        self.requests += 1
        return await self.ctx.direct.docs(db, ids, attachments=attachments)

    async def _save(self, db: str, docs: list[dict]) -> None:
        self.requests += 1
        reply = await self.ctx.direct.request("POST", db, "_bulk_docs", json={"docs": docs})
        errors = [result for result in expect(reply, 201, what="direct _bulk_docs").json() if "error" in result]
        if errors:
            raise RuntimeError(f"direct _bulk_docs failed: {errors[:3]}")

    async def folder(self, ids: list[str], folder: str, deleted: bool = False) -> None:
        now = gregorian_now()
        for db, db_ids in _by_db(self.account, ids).items():
            docs = await self._docs(db, db_ids)
            for doc in docs:
                doc["metadata"]["folder"] = folder
                doc["pvt_modified"] = now
                if deleted:
                    doc["pvt_deleted"] = True
            await self._save(db, docs)

    async def move(self, ids: list[str], target_box: str) -> None:
        now = gregorian_now()
        year, month = year_month(now)
        target_db = modb(self.account.id, year, month)
        for db, db_ids in _by_db(self.account, ids).items():
            docs = await self._docs(db, db_ids, attachments=True)
            copies = []
            for doc in docs:
                copy = {key: value for key, value in doc.items() if key != "_rev"}
                copy["_id"] = f"{year:04d}{month:02d}-{secrets.token_hex(16)}"
                copy.update(source_id=target_box, pvt_account_db=encoded(target_db), pvt_modified=now)
                copy["metadata"] = {**doc["metadata"], "media_id": copy["_id"], "folder": "new", "timestamp": now}
                copy["_attachments"] = {name: {"content_type": stub["content_type"], "data": stub["data"]}
                                        for name, stub in (doc.get("_attachments") or {}).items()}
                copies.append(copy)
            await self._save(target_db, copies)
            await self._save(db, [{"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True} for doc in docs])


async def _config(ctx: Context, service, count: int, days: int) -> tuple[dict, int]:
    """One account, its boxes and 4 sets of `count` messages over `days`; the API and the direct changes."""
    account = await ctx.seeder.account(f"bench bulk {count}")
    source, target, deletes, direct_source, direct_target, direct_deletes = await ctx.seeder.boxes(account, 6)
    times = spread(count, days)
    months = len({year_month(t) for t in times})
    recording = wav(AUDIO)
    ids = {}
    for box in (source, deletes, direct_source, direct_deletes):
        ids[box["_id"]] = await ctx.seeder.messages(account, box, times, audio=lambda _: recording)
    api = ctx.api(service, account.id)
    direct = DirectBulk(ctx, account)
    touched = months_back(months + 2)

    async def settle() -> None:
        await ctx.seeder.warm_modbs(account, touched)

    await settle()
    operations = [
        ("folder change", lambda: api.request("POST", f"/vmboxes/{source['_id']}/messages",
                                              json={"data": {"messages": ids[source["_id"]], "folder": "saved"}}),
         lambda: direct.folder(ids[direct_source["_id"]], "saved")),
        ("move", lambda: api.request("POST", f"/vmboxes/{source['_id']}/messages",
                                     json={"data": {"messages": ids[source["_id"]], "source_id": target["_id"]}}),
         lambda: direct.move(ids[direct_source["_id"]], direct_target["_id"])),
        ("delete", lambda: api.request("DELETE", f"/vmboxes/{deletes['_id']}/messages",
                                       json={"data": {"messages": ids[deletes["_id"]]}}),
         lambda: direct.folder(ids[direct_deletes["_id"]], "deleted", deleted=True)),
    ]
    found = {}
    for label, call, direct_call in operations:
        async with service.memory() as memory:
            sample = await counted(service, call)
        data = expect(sample.reply, 200, what=f"bulk {label}").json()["data"]
        await settle()
        before = direct.requests
        seconds, _ = await timed(direct_call)
        await settle()
        found[label] = {"api": sample.seconds, "direct": seconds, "couch": sample.couch_requests,
                        "steady": sample.steady_requests, "kinds": dict(sorted(sample.kinds.items())),
                        "direct_requests": direct.requests - before, "succeeded": len(data.get("succeeded", [])),
                        "failed": data.get("failed", []), "memory": memory}
    return found, months


async def _repeated(ctx: Context, service, count: int, days: int, repeats: int) -> tuple[dict, int]:
    """`_config` `repeats` times, each on fresh messages; per operation the median API and direct times, and
    every sample."""
    runs = [await _config(ctx, service, count, days) for _ in range(repeats)]
    found, months = runs[-1]
    for label, result in found.items():
        result["api_samples"] = [run[label]["api"] for run, _ in runs]
        result["direct_samples"] = [run[label]["direct"] for run, _ in runs]
        result["api"], result["direct"] = median(result["api_samples"]), median(result["direct_samples"])
        result["succeeded"] = min(run[label]["succeeded"] for run, _ in runs)
    return found, months


async def run(ctx: Context) -> list:
    configs = ctx.size([(100, 80, 1), (1_000, 80, GOAL_SAMPLES), (1_000, 170, 1)],
                       [(20, 50, 1), (100, 50, 2), (100, 110, 1)])
    service = await ctx.service(KAZOO_VM_RETENTION_DAYS=str(RETENTION_DAYS))
    results = [(count, *await _repeated(ctx, service, count, days, repeats)) for count, days, repeats in configs]
    rows = []
    small = results[0][1]
    for index, (count, found, months) in enumerate(results):
        for label, result in found.items():
            row = Row(NAME, f"{label} of {count:,} messages over {months} months", "ms", result["api"] * 1000, None,
                      result["direct"] * 1000, None, float(result["couch"]))
            row.memory(result["memory"])
            samples = len(result["api_samples"])
            row.extra.update(samples=samples, direct_couch_requests=result["direct_requests"],
                             steady_requests=result["steady"], couch_requests_by_kind=result["kinds"],
                             succeeded=result["succeeded"], failed=result["failed"][:5])
            row.notes = f"one request; direct needs {result['direct_requests']} CouchDB requests"
            if samples > 1:
                row.extra.update(api_samples_ms=[round(value * 1000, 1) for value in result["api_samples"]],
                                 direct_samples_ms=[round(value * 1000, 1) for value in result["direct_samples"]])
                row.notes = (f"{samples} requests, each on fresh messages, medians (API "
                             f"{', '.join(f'{value * 1000:,.0f}' for value in result['api_samples'])} ms; direct "
                             f"{', '.join(f'{value * 1000:,.0f}' for value in result['direct_samples'])} ms); "
                             f"direct needs {result['direct_requests']} CouchDB requests")
            if result["succeeded"] != count:
                row.notes += f"; the API changed {result['succeeded']} of {count} ({result['failed'][:2]})"
            if index == 1:
                row.goal = f"CouchDB requests grow with months, not messages (same as {results[0][0]:,} messages)"
                row.met = result["steady"] <= small[label]["steady"] and result["succeeded"] == count
                if label in RATIO_GOALS:
                    row.goal += f"; API/direct <= {RATIO_GOAL:g}"
                    row.met = row.ratio_within(RATIO_GOAL) and row.met
                row.notes += (f"; CouchDB requests without the account lookup (cached 5 s): {results[0][0]:,} "
                              f"messages {small[label]['steady']}, {count:,} messages {result['steady']}")
            rows.append(row)
    return rows
