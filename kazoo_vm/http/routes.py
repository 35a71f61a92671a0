"""Every route of the service, in one table. aiohttp tries resources in the order they are added; the
patterns below never overlap, so the order is for reading: the routes without auth, then the account's
boxes, then the account-wide message listing, then one box's messages, then one message.

Two literal path segments are not ids: `/vmboxes/messages` (the account-wide listing) is never a box id,
and `/messages/raw` (the ZIP) never a message id; the `{box_id}` and `{message_id}` patterns leave them
out, so a wrong method on them is a 405 from the router, not a lookup of a box called `messages`."""
from __future__ import annotations

from aiohttp import web

from . import api_auth, health, message, messages, openapi, vmboxes, webhooks

BOXES = "/v2/accounts/{account_id}/vmboxes"
ACCOUNT_MESSAGES = BOXES + "/messages"
BOX = BOXES + "/{box_id:(?!messages$)[^/]+}"
MESSAGES = BOX + "/messages"
ZIP = MESSAGES + "/raw"
MESSAGE = MESSAGES + "/{message_id:(?!raw$)[^/]+}"
RAW = MESSAGE + "/raw"
HOOKS = "/v2/accounts/{account_id}/webhooks"
HOOK_ATTEMPTS_ALL = HOOKS + "/attempts"
HOOK = HOOKS + "/{hook_id:(?!attempts$)[^/]+}"

ROUTES = [
    # no auth
    web.get("/v2/health", health.health),
    web.put("/v2/api_auth", api_auth.api_auth),
    web.get("/v2/openapi.json", openapi.openapi),
    web.get("/v2/webhooks", webhooks.available_hooks),
    web.get("/v2/webhooks/samples", webhooks.sample_names),
    web.get("/v2/webhooks/samples/{sample}", webhooks.hook_samples),
    # boxes
    web.get(BOXES, vmboxes.list_boxes),
    web.put(BOXES, vmboxes.create_box),
    web.get(BOX, vmboxes.get_box),
    web.post(BOX, vmboxes.replace_box),
    web.patch(BOX, vmboxes.patch_box),
    web.delete(BOX, vmboxes.delete_box),
    # every box's messages
    web.get(ACCOUNT_MESSAGES, messages.list_account_messages),
    # one box's messages
    web.get(MESSAGES, messages.list_box_messages),
    web.put(MESSAGES, messages.create_message),
    web.post(MESSAGES, messages.update_messages),
    web.delete(MESSAGES, messages.delete_messages),
    web.post(ZIP, messages.download_zip),
    # one message
    web.get(MESSAGE, message.get_message),
    web.post(MESSAGE, message.update_message),
    web.delete(MESSAGE, message.delete_message),
    web.get(RAW, message.download_audio),
    web.put(RAW, message.upload_audio),
    # webhooks (cb_webhooks)
    web.get(HOOKS, webhooks.list_hooks),
    web.put(HOOKS, webhooks.create_hook),
    web.patch(HOOKS, webhooks.reenable_hooks),
    web.get(HOOK_ATTEMPTS_ALL, webhooks.account_attempts),
    web.get(HOOK, webhooks.get_hook),
    web.post(HOOK, webhooks.replace_hook),
    web.patch(HOOK, webhooks.patch_hook),
    web.delete(HOOK, webhooks.delete_hook),
    web.get(HOOK + "/attempts", webhooks.hook_attempts),
]
