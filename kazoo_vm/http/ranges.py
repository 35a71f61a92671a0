"""HTTP Range on audio downloads (RFC 9110 §14): one byte range; anything else is answered whole."""
from __future__ import annotations

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse(header: str | None, length: int) -> tuple[int, int] | None:
    """(first, last) byte to send, None for the whole body; Unsatisfiable when the range is outside it."""
    if not header:
        return None
    found = _RANGE.match(header.strip().replace(" ", ""))
    if not found or (not found[1] and not found[2]):
        return None
    first, last = found[1], found[2]
    if not first:
        suffix = int(last)
        if suffix == 0 or length == 0:
            raise Unsatisfiable()
        return max(0, length - suffix), length - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= length:
        raise Unsatisfiable()
    end = int(last) if last else length - 1
    return start, min(end, length - 1)
