"""Routes of Kazoo's webhooks API (cb_webhooks): the available hooks, an account's hooks, re-enabling,
and the attempt log."""
from __future__ import annotations

from aiohttp import web

from ..voicemail import filters
from ..webhooks import available, samples
from ..webhooks.hooks import public
from ..webhooks.service import Webhooks
from . import bodies, envelope
from .context import account, settings
from .inputs import filters as query_filters, listing_query
from .openapi import FILTERS, PAGING, WINDOW, Body, describe, items, ref
from .pages import paged

WEBHOOKS = web.AppKey("webhooks", Webhooks)


def webhooks(request: web.Request) -> Webhooks:
    return request.app[WEBHOOKS]


async def _data(request: web.Request) -> dict:
    return await bodies.read_data(request, settings(request).max_body_bytes)


def _hook(request: web.Request, doc: dict, status: int = 200) -> web.Response:
    headers = {"Location": doc["_id"]} if status == 201 else None
    return envelope.success(request, public(doc), status=status, revision=doc.get("_rev"), headers=headers)


@describe("The hooks this service raises, with their modifiers", data=items("AvailableWebhook"), auth=False,
          storage=False)
async def available_hooks(request: web.Request) -> web.Response:
    return envelope.success(request, list(available.available()))


@describe("The hooks that have sample payloads", data={"type": "array", "items": {"type": "string"}}, auth=False,
          storage=False)
async def sample_names(request: web.Request) -> web.Response:
    return envelope.success(request, samples.names())


@describe("Sample payloads of one hook, as delivered before `custom_data` is merged in (Crossbar's filters apply)",
          data=items("WebhookSample"), query=FILTERS, auth=False, storage=False, errors=(404,))
async def hook_samples(request: web.Request) -> web.Response:
    keep = filters.build(query_filters(request.query))
    return envelope.success(request, samples.samples(request.match_info["sample"], keep))


@describe("The account's hooks", data=items("WebhookSummary"), paged=True, query=PAGING + FILTERS, errors=(400,))
async def list_hooks(request: web.Request) -> web.Response:
    query = listing_query(request.query, strict_page_size=False)
    page = await webhooks(request).hooks.listing(account(request), query)
    return paged(request, query, page, page.rows)


@describe("Create a hook", data=ref("Webhook"), status=201, body=Body("json", "webhooks"), headers=("Location",),
          produces={"hook_id": "$response.body#/data/id"})
async def create_hook(request: web.Request) -> web.Response:
    doc = await webhooks(request).hooks.create(account(request), await _data(request))
    return _hook(request, doc, status=201)


@describe('Re-enable the hooks the service disabled after repeated failures (`{"re-enable": true}`)',
          data=ref("Reason"), body=Body("json"))
async def reenable_hooks(request: web.Request) -> web.Response:
    await webhooks(request).hooks.reenable(account(request), await _data(request))
    return envelope.success(request, {"message": "hooks updated"})


@describe("Delivery attempts of the account's hooks, newest first (at most 1,000, a window of at most 31 days)",
          data=items("WebhookAttempt"), query=WINDOW[:2], errors=(400,))
async def account_attempts(request: web.Request) -> web.Response:
    return envelope.success(request, await webhooks(request).attempts.listing(account(request), request.query))


@describe("A hook", data=ref("Webhook"))
async def get_hook(request: web.Request) -> web.Response:
    return _hook(request, await webhooks(request).hooks.load(account(request), request.match_info["hook_id"]))


@describe("Replace a hook (fields not sent are dropped; saving it enabled re-enables it)", data=ref("Webhook"),
          body=Body("json", "webhooks"), errors=(409,))
async def replace_hook(request: web.Request) -> web.Response:
    doc = await webhooks(request).hooks.replace(account(request), request.match_info["hook_id"], await _data(request))
    return _hook(request, doc)


@describe("Merge fields into a hook", data=ref("Webhook"), body=Body("json", "webhooks", partial=True),
          errors=(409,))
async def patch_hook(request: web.Request) -> web.Response:
    doc = await webhooks(request).hooks.patch(account(request), request.match_info["hook_id"], await _data(request))
    return _hook(request, doc)


@describe("Delete a hook (soft delete)", data=ref("Webhook"), body=Body("json", required=False), errors=(409,))
async def delete_hook(request: web.Request) -> web.Response:
    await _data(request)
    doc = await webhooks(request).hooks.delete(account(request), request.match_info["hook_id"])
    return _hook(request, doc)


@describe("Delivery attempts of one hook, newest first", data=items("WebhookAttempt"), query=WINDOW[:2],
          errors=(400,))
async def hook_attempts(request: web.Request) -> web.Response:
    hook = await webhooks(request).hooks.load(account(request), request.match_info["hook_id"])
    return envelope.success(request, await webhooks(request).attempts.listing(account(request), request.query,
                                                                              hook["_id"]))
