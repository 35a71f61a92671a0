"""Handlers on one message: its metadata, folder change, move or copy, delete, and its raw audio (with
Range). Paths and their order: http/routes.py."""
from __future__ import annotations

import logging

from aiohttp import web

from ..storage import StorageError
from ..voicemail.message import Audio
from . import bodies, envelope, inputs, ranges
from .context import REQUEST_ID, account, settings, voicemail
from .messages import upload
from .openapi import Body, describe, ref

log = logging.getLogger("kazoo_vm.http")


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["box_id"], request.match_info["message_id"]


@describe("A message's metadata", data=ref("Message"), errors=(405,))
async def get_message(request: web.Request) -> web.Response:
    return envelope.success(request, await voicemail(request).message.fetch(account(request), *_ids(request)))


@describe("Change a message's folder, move it (`source_id` a box) or copy it (a list)",
          data={"anyOf": [ref("Message"), ref("BulkResult")]}, body=Body("json", "MessageChange", required=False),
          query=("folder",), errors=(405, 409))
async def update_message(request: web.Request) -> web.Response:
    """Folder change, or with `source_id` the move (to a box) or copy (to a list of boxes) of the message."""
    body = await bodies.read_json(request, settings(request).max_body_bytes)
    change = inputs.message_change(bodies.data_of(body), request.query, body)
    return envelope.success(request, await voicemail(request).message.change(account(request), *_ids(request),
                                                                             change))


@describe("Delete a message (soft delete)", data=ref("Message"), body=Body("json", required=False), errors=(405, 409))
async def delete_message(request: web.Request) -> web.Response:
    await bodies.read_json(request, settings(request).max_body_bytes)
    return envelope.success(request, await voicemail(request).message.delete(account(request), *_ids(request)))


@describe("Replace a message's audio", data=ref("Message"), status=201, body=Body("audio"), query=("filename",),
          errors=(409,))
async def upload_audio(request: web.Request) -> web.Response:
    sent = await upload(request)
    try:
        audio = sent.single_file(required=True)
        metadata = await voicemail(request).message.replace_audio(account(request), *_ids(request), audio)
    finally:
        sent.cleanup()
    return envelope.success(request, metadata, status=201)


@describe("A message's audio (one `Range` is answered with 206)", answers={200: "Audio", 206: "PartialAudio"},
          query=("Range",), errors=(416,))
async def download_audio(request: web.Request) -> web.StreamResponse:
    header = request.headers.get("Range")

    def span(length: int) -> tuple[int, int] | None:
        """The bytes this request is answered with, for a recording of `length` bytes (asked for in parallel
        with the reads of the message when the domain knows where its audio is)."""
        try:
            return ranges.parse(header, length) or (0, length - 1)
        except ranges.Unsatisfiable:
            return None

    audio = await voicemail(request).message.audio(account(request), *_ids(request),
                                                   span=None if request.method == "HEAD" else span)
    try:
        return await _send_audio(request, audio, header)
    finally:
        await audio.close()


async def _send_audio(request: web.Request, audio: Audio, header: str | None) -> web.StreamResponse:
    headers = {"Content-Type": audio.content_type, "Accept-Ranges": "bytes",
               "Content-Disposition": f"attachment; filename={audio.filename}"}
    try:
        wanted = ranges.parse(header, audio.length)
    except ranges.Unsatisfiable:
        return envelope.error(request, "range_not_satisfiable", "range_not_satisfiable",
                              {"message": f"the recording has {audio.length} bytes"},
                              headers={"Content-Range": f"bytes */{audio.length}"})
    first, last = wanted if wanted else (0, audio.length - 1)
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    response.content_length = last - first + 1 if audio.length else 0
    if wanted:
        response.headers["Content-Range"] = f"bytes {first}-{last}/{audio.length}"
    await response.prepare(request)
    if audio.length and request.method != "HEAD":
        try:
            async for chunk in audio.read(first, last):
                await response.write(chunk)
        except StorageError as failure:
            log.warning("audio stream broken: %s (request %s)", failure, request[REQUEST_ID])
            request.transport and request.transport.close()
            return response
    await response.write_eof()
    return response
