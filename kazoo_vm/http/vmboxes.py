"""Handlers of the boxes (`/vmboxes`, `/vmboxes/{box_id}`). Paths and their order: http/routes.py."""
from __future__ import annotations

from aiohttp import web

from ..voicemail.boxes import BoxResult, public
from . import bodies, envelope, inputs
from .context import account, actor, settings, voicemail
from .openapi import FILTERS, PAGING, Body, describe, items, ref
from .pages import paged


def box_response(request: web.Request, result: BoxResult, status: int = 200) -> web.Response:
    extra = {"message": " ".join(result.notices)} if result.notices else None
    headers = {"Warning": ", ".join(result.warnings)} if result.warnings else {}
    if status == 201:
        headers["Location"] = result.box["id"]
    return envelope.success(request, result.box, status=status, revision=result.rev, extra=extra,
                            headers=headers)


async def _data(request: web.Request) -> dict:
    return await bodies.read_data(request, settings(request).max_body_bytes)


@describe("List the boxes", data=items("BoxSummary"), paged=True, query=PAGING + FILTERS, errors=(400,))
async def list_boxes(request: web.Request) -> web.Response:
    query = inputs.listing_query(request.query, strict_page_size=False)
    page = await voicemail(request).box_listing(account(request), query)
    return paged(request, query, page, [row["value"] for row in page.rows])


@describe("Create a box", data=ref("Box"), status=201, body=Body("json", "vmboxes"), errors=(409,),
          headers=("Location", "Warning"), produces={"box_id": "$response.body#/data/id"})
async def create_box(request: web.Request) -> web.Response:
    result = await voicemail(request).boxes.create(account(request), await _data(request), actor(request))
    return box_response(request, result, status=201)


@describe("A box", data=ref("Box"))
async def get_box(request: web.Request) -> web.Response:
    box = await voicemail(request).boxes.load(account(request), request.match_info["box_id"])
    return envelope.success(request, public(box), revision=box["_rev"])


@describe("Replace a box (fields not sent are dropped)", data=ref("Box"), body=Body("json", "vmboxes"),
          errors=(405, 409), headers=("Warning",))
async def replace_box(request: web.Request) -> web.Response:
    result = await voicemail(request).boxes.replace(account(request), request.match_info["box_id"],
                                                    await _data(request), actor(request))
    return box_response(request, result)


@describe("Merge fields into a box", data=ref("Box"), body=Body("json", "vmboxes", partial=True),
          errors=(405, 409), headers=("Warning",))
async def patch_box(request: web.Request) -> web.Response:
    result = await voicemail(request).boxes.patch(account(request), request.match_info["box_id"],
                                                  await _data(request), actor(request))
    return box_response(request, result)


@describe("Delete a box and its messages (soft delete)", data=ref("DeletedBox"), body=Body("json", required=False),
          errors=(405, 409))
async def delete_box(request: web.Request) -> web.Response:
    await _data(request)
    box = await voicemail(request).delete_box(account(request), request.match_info["box_id"], actor(request))
    return envelope.success(request, box)
