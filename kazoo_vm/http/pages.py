"""Listings in Crossbar's paging envelope: `page_size`, `start_key`, `next_start_key`."""
from __future__ import annotations

from aiohttp import web

from ..voicemail.inputs import ListingQuery
from ..voicemail.paging import Page
from . import envelope


def paged(request: web.Request, query: ListingQuery, page: Page, items: list) -> web.Response:
    """A listing with Crossbar's paging keys, unless `paginate=false`."""
    extra = {}
    if query.paginate:
        extra["page_size"] = len(items)
        if page.start is not None:
            extra["start_key"] = page.start.encode()
        if page.next is not None:
            extra["next_start_key"] = page.next.encode()
    return envelope.success(request, items, extra=extra)
