"""Routes of voicemail messages: listings, create, one message, and its raw audio."""
from __future__ import annotations

import logging

from aiohttp import web

from ..storage import StorageError
from ..voicemail import folders
from . import bodies, envelope, ranges
from .context import REQUEST_ID, account, actor, settings, voicemail
from .message_bulk import action_request
from .openapi import FILTERS, PAGING, WINDOW, Body, describe, items, ref
from .pages import paged
from .uploads import Upload, read_upload
from .vmboxes import BOX, BOXES

MESSAGES = BOX + "/messages"
MESSAGE = MESSAGES + "/{message_id}"
RAW = MESSAGE + "/raw"

log = logging.getLogger("kazoo_vm.http")
routes = web.RouteTableDef()


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["box_id"], request.match_info["message_id"]


def _message_ids(request: web.Request) -> tuple[str, str]:
    """`.../messages/raw` is the ZIP download, which answers POST only."""
    if request.match_info["message_id"] == "raw":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    return _ids(request)


async def _upload(request: web.Request) -> Upload:
    return await read_upload(request, json_limit=settings(request).max_body_bytes,
                             audio_limit=settings(request).max_audio_bytes, query_filename=True)


@routes.get(BOXES + "/messages")
@describe("Every box's messages, newest first", data=items("AccountMessage"), paged=True,
          query=PAGING + WINDOW + FILTERS, errors=(400,))
async def list_account_messages(request: web.Request) -> web.Response:
    await voicemail(request).migrate_account_on_access(account(request))
    page, items = await voicemail(request).listing.account(account(request), request.query)
    return paged(request, page, items)


@routes.get(MESSAGES)
@describe("A box's messages, newest first", data=items("Message"), paged=True,
          query=PAGING + WINDOW + FILTERS, errors=(400,))
async def list_box_messages(request: web.Request) -> web.Response:
    page, items = await voicemail(request).box_messages(account(request), request.match_info["box_id"],
                                                        request.query)
    return paged(request, page, items)


@routes.put(MESSAGES)
@describe("Create a message, with or without its audio", data=ref("Message"), status=201,
          body=Body("upload", "vm_message_metadata", required=False), query=("filename",), headers=("Location",),
          produces={"message_id": "$response.body#/data/media_id"})
async def create_message(request: web.Request) -> web.Response:
    upload = await _upload(request)
    try:
        audio = upload.single_file(required=False)
        metadata = await voicemail(request).messages.create(account(request), request.match_info["box_id"],
                                                            upload.data, actor(request), audio)
    finally:
        upload.cleanup()
    return envelope.success(request, metadata, status=201, headers={"Location": metadata["media_id"]})


@routes.get(MESSAGE)
@describe("A message's metadata", data=ref("Message"), errors=(405,))
async def get_message(request: web.Request) -> web.Response:
    metadata = await voicemail(request).messages.fetch(account(request), *_message_ids(request))
    return envelope.success(request, metadata)


@routes.post(MESSAGE)
@describe("Change a message's folder, move it (`source_id` a box) or copy it (a list)",
          data={"anyOf": [ref("Message"), ref("BulkResult")]}, body=Body("json", "MessageChange", required=False),
          query=("folder",), errors=(405, 409))
async def update_message(request: web.Request) -> web.Response:
    """Folder change, or with `source_id` the move (to a box) or copy (to a list of boxes) of the message."""
    box_id, message_id = _message_ids(request)
    found = await action_request(request)
    return envelope.success(request, await voicemail(request).actions.update_one(account(request), box_id,
                                                                                 message_id, found))


@routes.delete(MESSAGE)
@describe("Delete a message (soft delete)", data=ref("Message"), body=Body("json", required=False), errors=(405, 409))
async def delete_message(request: web.Request) -> web.Response:
    await bodies.read_json(request, settings(request).max_body_bytes)
    metadata = await voicemail(request).messages.change_folder(account(request), *_message_ids(request),
                                                               folders.DELETED, soft_delete=True)
    return envelope.success(request, metadata)


@routes.put(RAW)
@describe("Replace a message's audio", data=ref("Message"), status=201, body=Body("audio"), query=("filename",),
          errors=(409,))
async def upload_audio(request: web.Request) -> web.Response:
    upload = await _upload(request)
    try:
        audio = upload.single_file(required=True)
        metadata = await voicemail(request).messages.upload(account(request), *_ids(request), audio)
    finally:
        upload.cleanup()
    return envelope.success(request, metadata, status=201)


@routes.get(RAW)
@describe("A message's audio (one `Range` is answered with 206)", answers={200: "Audio", 206: "PartialAudio"},
          query=("Range",), errors=(416,))
async def download_audio(request: web.Request) -> web.StreamResponse:
    audio = await voicemail(request).messages.audio(account(request), *_ids(request))
    headers = {"Content-Type": audio.content_type, "Accept-Ranges": "bytes",
               "Content-Disposition": f"attachment; filename={audio.filename}"}
    try:
        wanted = ranges.parse(request.headers.get("Range"), audio.length)
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
