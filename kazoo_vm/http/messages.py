"""Handlers on a box's messages (and the account's): listings, create, bulk folder change, move and copy,
bulk delete, and the ZIP of several recordings. Paths and their order: http/routes.py."""
from __future__ import annotations

import logging

from aiohttp import web

from ..storage import StorageError
from . import bodies, envelope, inputs
from .context import REQUEST_ID, account, actor, settings, voicemail
from .openapi import FILTERS, PAGING, WINDOW, Body, describe, items, ref
from .pages import paged
from .uploads import Upload, read_upload
from .zip_stream import ZipStream

log = logging.getLogger("kazoo_vm.http")


async def upload(request: web.Request) -> Upload:
    return await read_upload(request, json_limit=settings(request).max_body_bytes,
                             audio_limit=settings(request).max_audio_bytes, query_filename=True)


@describe("Every box's messages, newest first", data=items("AccountMessage"), paged=True,
          query=PAGING + WINDOW + FILTERS, errors=(400,))
async def list_account_messages(request: web.Request) -> web.Response:
    query = inputs.listing_query(request.query, strict_page_size=True)
    page, found = await voicemail(request).messages.list_account(account(request), query)
    return paged(request, query, page, found)


@describe("A box's messages, newest first", data=items("Message"), paged=True,
          query=PAGING + WINDOW + FILTERS, errors=(400,))
async def list_box_messages(request: web.Request) -> web.Response:
    query = inputs.listing_query(request.query, strict_page_size=True)
    page, found = await voicemail(request).messages.list_box(account(request), request.match_info["box_id"], query)
    return paged(request, query, page, found)


@describe("Create a message, with or without its audio", data=ref("Message"), status=201,
          body=Body("upload", "vm_message_metadata", required=False), query=("filename",), headers=("Location",),
          produces={"message_id": "$response.body#/data/media_id"})
async def create_message(request: web.Request) -> web.Response:
    sent = await upload(request)
    try:
        audio = sent.single_file(required=False)
        metadata = await voicemail(request).message.create(account(request), request.match_info["box_id"],
                                                           sent.data, actor(request), audio)
    finally:
        sent.cleanup()
    return envelope.success(request, metadata, status=201, headers={"Location": metadata["media_id"]})


@describe("Change the folder of, move or copy messages", data=ref("BulkResult"),
          body=Body("json", "MessagesChange"), query=("folder",), errors=(409,))
async def update_messages(request: web.Request) -> web.Response:
    body = await bodies.read_json(request, settings(request).max_body_bytes)
    data = bodies.data_of(body)
    ids = inputs.message_ids(data, settings(request).max_bulk_ids)
    change = inputs.message_change(data, request.query, body)
    result = await voicemail(request).messages.change(account(request), request.match_info["box_id"], ids, change)
    return envelope.success(request, result)


@describe("Delete messages: the listed ones, a folder's, or all", data=ref("BulkResult"),
          body=Body("json", "MessagesDelete", required=False), query=("folder",), errors=(409,))
async def delete_messages(request: web.Request) -> web.Response:
    body = await bodies.read_json(request, settings(request).max_body_bytes)
    data = bodies.data_of(body)
    ids = inputs.message_ids(data, settings(request).max_bulk_ids, required=False)
    result = await voicemail(request).messages.delete(account(request), request.match_info["box_id"], ids,
                                                      inputs.given_folder(data, request.query, body))
    return envelope.success(request, result)


@describe("A ZIP of the listed messages' recordings", answers={200: "Zip"}, body=Body("json", "MessageSelection"))
async def download_zip(request: web.Request) -> web.StreamResponse:
    data = bodies.data_of(await bodies.read_json(request, settings(request).max_body_bytes))
    ids = inputs.message_ids(data, settings(request).max_bulk_ids)
    recordings = await voicemail(request).messages.recordings(account(request), request.match_info["box_id"], ids)
    response = web.StreamResponse(headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f"attachment; filename={request[REQUEST_ID]}.zip"})
    await response.prepare(request)
    archive = ZipStream(response)
    try:
        for audio in recordings:
            await archive.add(audio.filename, audio.read(0, audio.length - 1))
        await archive.close()
    except StorageError as failure:
        log.warning("zip stream broken: %s (request %s)", failure, request[REQUEST_ID])
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
