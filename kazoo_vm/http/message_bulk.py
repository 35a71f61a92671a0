"""Routes on many messages of a box: bulk folder change, move and copy, bulk delete, ZIP download."""
from __future__ import annotations

import logging

from aiohttp import web

from ..storage import StorageError
from ..voicemail.message_actions import Request
from . import bodies, envelope
from .context import REQUEST_ID, account, settings, voicemail
from .openapi import Body, describe, ref
from .zip_stream import ZipStream

MESSAGES = "/v2/accounts/{account_id}/vmboxes/{box_id}/messages"

log = logging.getLogger("kazoo_vm.http")
routes = web.RouteTableDef()


async def action_request(request: web.Request) -> Request:
    """The request's `data`, query string and whole JSON body, where Kazoo looks for `folder`."""
    body = await bodies.read_json(request, settings(request).max_body_bytes)
    return Request(bodies.data_of(body), request.query, body)


@routes.post(MESSAGES)
@describe("Change the folder of, move or copy messages", data=ref("BulkResult"),
          body=Body("json", "MessagesChange"), query=("folder",), errors=(409,))
async def update_messages(request: web.Request) -> web.Response:
    result = await voicemail(request).actions.update_many(account(request), request.match_info["box_id"],
                                                          await action_request(request))
    return envelope.success(request, result)


@routes.delete(MESSAGES)
@describe("Delete messages: the listed ones, a folder's, or all", data=ref("BulkResult"),
          body=Body("json", "MessagesDelete", required=False), query=("folder",), errors=(409,))
async def delete_messages(request: web.Request) -> web.Response:
    result = await voicemail(request).actions.delete_many(account(request), request.match_info["box_id"],
                                                          await action_request(request))
    return envelope.success(request, result)


@routes.post(MESSAGES + "/raw")
@describe("A ZIP of the listed messages' recordings", answers={200: "Zip"}, body=Body("json", "MessageSelection"))
async def download_zip(request: web.Request) -> web.StreamResponse:
    found = await action_request(request)
    recordings = await voicemail(request).actions.recordings(account(request), request.match_info["box_id"],
                                                             found.data)
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
