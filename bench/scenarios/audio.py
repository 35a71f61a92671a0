"""A 50 MB recording: upload (`PUT .../raw`) against a direct standalone attachment PUT, download
(`GET .../raw`) against a direct attachment GET, and a Range request for the last 1 MB against the same
Range sent to CouchDB, each interleaved with the same direct request through the bare aiohttp relay
(bench/relay.py, which forwards the Range and streams the body as the service does): relay/direct is the floor of
a Python hop for these two rows. Throughput in MB/s; the service's memory growth is its peak RSS (VmHWM, reset before
each request) over its RSS before. How much the service read from CouchDB for the Range request is the
growth of `bytes_received` (the kernel's tcp_info, read with `ss`) of its connections to CouchDB.
PouchDB Server needs more than the service's default CouchDB timeout (10 s) to store 50 MB; when the upload
fails for that reason, it is measured again on a service with KAZOO_VM_COUCHDB_TIMEOUT=300, and both are
reported."""
from __future__ import annotations

import asyncio
import time

import aiohttp

from kazoo_vm.voicemail.message_docs import db_of

from ..harness import MB, Context, counted, expect, timed
from ..measure import Row, kinds_mean, mean, median, ms, percentile
from ..seed import spread, wav

NAME = "audio"
THROUGHPUT_GOAL = 0.8  # upload
DOWNLOAD_GOAL = 1.0
RANGE_GOAL = 1.5
MEMORY_GOAL_MB = 30
TAIL = 1 * MB
CONTENT_TYPE = "audio/wav"
ATTACHMENT = "recording.wav"
LONG_TIMEOUT = 300
RELAY_NOTES = ("bench/relay.py: the direct request relayed as it is (Range forwarded, body streamed as the service "
               "streams audio), no logic; interleaved with the API and direct requests of the row before")


def _failure(sample) -> str:
    """A failed API request in a few words: its status, how long it took, the Crossbar error message."""
    try:
        message = sample.reply.json().get("message")
    except ValueError:
        message = sample.reply.body[:120].decode(errors="replace")
    return f"{sample.reply.status} after {sample.seconds:.1f} s ({message})"


async def _rev(ctx: Context, db: str, doc_id: str) -> str:
    try:
        reply = await ctx.direct.request("GET", db, doc_id)
    except aiohttp.ClientError:  # CouchDB busy with a 50 MB write: once more
        await asyncio.sleep(1)
        reply = await ctx.direct.request("GET", db, doc_id)
    return expect(reply, 200).json()["_rev"]


async def _settle(ctx: Context, db: str, doc_id: str, rev: str, seconds: float = 180) -> float:
    """Wait for CouchDB to finish an upload the service gave up on (the document changes revision), so
    that it does not slow down what is measured next; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() < started + seconds and await _rev(ctx, db, doc_id) == rev:
        await asyncio.sleep(1)
    return time.monotonic() - started


async def run(ctx: Context) -> list:
    size, uploads, downloads, ranges = ctx.size(50 * MB, 5 * MB), 2, 3, ctx.size(21, 5)
    service = await ctx.service()
    account = await ctx.seeder.account("bench audio")
    box = (await ctx.seeder.boxes(account, 1))[0]
    api_id, direct_id = await ctx.seeder.messages(account, box, spread(2, 1))
    db = db_of(account, direct_id)
    api = ctx.api(service, account.id)
    recording = wav(size)
    label = f"{size / MB:g} MB"
    relay = await ctx.relay()

    # uploads, interleaved: the service first (so that a failure is seen before the long direct PUT)
    async def api_upload(target):
        target_api = ctx.api(target, account.id)
        async with target.memory() as memory:
            sample = await counted(target, lambda: target_api.request(
                "PUT", f"/vmboxes/{box['_id']}/messages/{api_id}/raw", data=recording,
                headers={"Content-Type": CONTENT_TYPE}))
        return sample, memory

    up_api, up_direct, up_couch, up_growth, up_peak, up_failures = [], [], [], 0, 0, []
    uploader, default_failure, settled = service, None, None
    for _ in range(uploads):
        rev_before = await _rev(ctx, db_of(account, api_id), api_id)
        sample, memory = await api_upload(uploader)
        if sample.reply.status != 201 and uploader is service:
            default_failure = _failure(sample)
            settled = round(await _settle(ctx, db_of(account, api_id), api_id, rev_before), 1)
            uploader = await ctx.service(KAZOO_VM_COUCHDB_TIMEOUT=str(LONG_TIMEOUT))
            sample, memory = await api_upload(uploader)
        up_growth, up_peak = max(up_growth, memory.growth), max(up_peak, memory.peak)
        if sample.reply.status == 201:
            up_api.append(size / MB / sample.seconds)
            up_couch.append(sample)
        else:
            up_failures.append(_failure(sample))
        rev = await _rev(ctx, db, direct_id)
        seconds, reply = await timed(lambda: ctx.direct.request(
            "PUT", db, direct_id, ATTACHMENT, params={"rev": rev}, data=recording,
            headers={"Content-Type": CONTENT_TYPE}))
        expect(reply, 201, what="direct attachment PUT")
        up_direct.append(size / MB / seconds)
    upload = Row(NAME, f"upload a {label} recording", "MB/s", median(up_api), None, median(up_direct), None,
                 mean([sample.couch_requests for sample in up_couch]), up_peak / MB, up_growth / MB,
                 goal=f">= {THROUGHPUT_GOAL}x direct attachment PUT, RSS growth < {MEMORY_GOAL_MB} MB",
                 notes="direct: standalone attachment PUT of the same bytes")
    upload.met = bool(up_api) and not up_failures and upload.ratio_within(THROUGHPUT_GOAL) and \
        upload.rss_growth_mb < MEMORY_GOAL_MB
    upload.extra.update(samples=uploads, couch_requests_by_kind=kinds_mean(up_couch), failures=up_failures,
                        default_timeout_failure=default_failure, waited_for_couchdb_after_it=settled)
    if default_failure:
        upload.notes += (f"; with the default KAZOO_VM_COUCHDB_TIMEOUT (10 s) the API answered {default_failure}, "
                         f"so the figures are from a service with KAZOO_VM_COUCHDB_TIMEOUT={LONG_TIMEOUT}")
    if up_failures:
        upload.notes += f"; the API failed {len(up_failures)} of {uploads}: {'; '.join(up_failures)}"

    # downloads of the recording stored by the direct PUT, interleaved
    source = direct_id
    down_api, down_direct, down_relay, down_couch, down_growth, down_peak = [], [], [], [], 0, 0
    for _ in range(downloads):
        async with service.memory() as memory:
            sample = await counted(service, lambda: api.request(
                "GET", f"/vmboxes/{box['_id']}/messages/{source}/raw", stream=True))
        expect(sample.reply, 200, what="GET raw")
        if sample.reply.size != size:
            raise RuntimeError(f"GET raw sent {sample.reply.size} of {size} bytes")
        down_growth, down_peak = max(down_growth, memory.growth), max(down_peak, memory.peak)
        down_api.append(size / MB / sample.seconds)
        down_couch.append(sample)
        seconds, reply = await timed(lambda: ctx.direct.request("GET", db, source, ATTACHMENT, stream=True))
        expect(reply, 200, what="direct attachment GET")
        down_direct.append(size / MB / seconds)
        seconds, reply = await timed(lambda: relay.request("GET", db, source, ATTACHMENT, stream=True))
        if expect(reply, 200, what="relayed attachment GET").size != size:
            raise RuntimeError(f"the relay sent {reply.size} of {size} bytes")
        down_relay.append(size / MB / seconds)
    download = Row(NAME, f"download a {label} recording", "MB/s", median(down_api), None, median(down_direct),
                   None, mean([sample.couch_requests for sample in down_couch]), down_peak / MB, down_growth / MB,
                   goal=f">= {DOWNLOAD_GOAL:g}x direct attachment GET, RSS growth < {MEMORY_GOAL_MB} MB",
                   notes="direct: attachment GET; both read in 256 KB chunks and discarded")
    download.met = download.ratio_within(DOWNLOAD_GOAL) and download.rss_growth_mb < MEMORY_GOAL_MB
    download.extra.update(samples=downloads, couch_requests_by_kind=kinds_mean(down_couch))
    down_floor = Row(NAME, "the same download through a bare aiohttp relay (floor of a Python hop)", "MB/s",
                     median(down_relay), None, median(down_direct), None, 1.0, notes=RELAY_NOTES)

    # the last 1 MB
    range_header = {"Range": f"bytes=-{TAIL}"}
    r_api, r_direct, r_relay, r_couch, r_read, statuses, lower_bound = [], [], [], [], [], set(), False
    direct_reply = None
    async with service.memory() as memory:
        for _ in range(ranges):
            before = service.couch_bytes_received()
            sample = await counted(service, lambda: api.request(
                "GET", f"/vmboxes/{box['_id']}/messages/{source}/raw", headers=range_header, stream=True))
            after = service.couch_bytes_received()
            if before is not None and after is not None:
                r_read.append(sum(count - before.get(key, 0) for key, count in after.items()))
                lower_bound = lower_bound or bool(set(before) - set(after))
            expect(sample.reply, 206, what="GET raw with Range")
            if sample.reply.size != TAIL:
                raise RuntimeError(f"the Range answer has {sample.reply.size} bytes, not {TAIL}")
            r_api.append(sample.seconds)
            r_couch.append(sample)
            seconds, direct_reply = await timed(lambda: ctx.direct.request("GET", db, source, ATTACHMENT,
                                                                         headers=range_header, stream=True))
            statuses.add(direct_reply.status)
            r_direct.append(seconds)
            seconds, reply = await timed(lambda: relay.request("GET", db, source, ATTACHMENT, headers=range_header,
                                                               stream=True))
            if (reply.status, reply.size) != (direct_reply.status, direct_reply.size):
                raise RuntimeError(f"the relay answered {reply.status} with {reply.size} bytes, CouchDB "
                                   f"{direct_reply.status} with {direct_reply.size}")
            r_relay.append(seconds)
    head = (size - TAIL) / MB
    if r_read:
        read_mb = median(r_read) / MB
        read_head = read_mb >= head
        verdict = "had to read" if read_head else ("may have read" if lower_bound else "did not read")
        read = (f"the service received {'at least ' if lower_bound else ''}{read_mb:.1f} MB from CouchDB "
                f"(kernel tcp_info of its connections) to send {TAIL / MB:g} MB: it {verdict} the first {head:g} MB")
        met = None if (lower_bound and not read_head) else not read_head
    else:
        read, met = "what the service received could not be measured (no `ss`)", None
    tail = Row(NAME, f"Range: the last {TAIL / MB:g} MB of {label}", "ms", median(ms(r_api)),
               percentile(ms(r_api), 95), median(ms(r_direct)), percentile(ms(r_direct), 95),
               mean([sample.couch_requests for sample in r_couch]),
               memory.peak / MB, memory.growth / MB,
               goal=f"API/direct <= {RANGE_GOAL:g}, answered without reading the first {head:g} MB", met=met,
               notes=f"CouchDB answered {'/'.join(map(str, sorted(statuses)))} with {direct_reply.size / MB:.1f} MB "
                     f"to the same Range; {read}")
    within = tail.ratio_within(RANGE_GOAL)
    tail.met = (met and within) if met is not None else (None if within else False)
    tail.extra.update(samples=ranges, couch_requests_by_kind=kinds_mean(r_couch),
                      couch_range_status=sorted(statuses), service_received_bytes=r_read)
    tail_floor = Row(NAME, "the same Range through a bare aiohttp relay (floor of a Python hop)", "ms",
                     median(ms(r_relay)), percentile(ms(r_relay), 95), median(ms(r_direct)),
                     percentile(ms(r_direct), 95), 1.0, notes=RELAY_NOTES)
    return [upload, download, down_floor, tail, tail_floor]
