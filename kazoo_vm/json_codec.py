"""JSON in and out of the service's hot paths (CouchDB's answers and request bodies, the API's answers) with
orjson, which decodes and encodes a page of 50 messages 3-10 times faster than the standard library
(docs/couchdb.md, "JSON"). Where orjson would give a different value it is not used: an integer beyond
64 bits (orjson reads it as a float, and a document written back would lose its digits), a lone surrogate
or a number out of a double's range (orjson refuses them); those go through the standard library as before."""
from __future__ import annotations

import json
from typing import Any

import orjson

# Any number of 19 digits or more (a sign counted as a digit) after a character that can come before a
# number in JSON: maybe beyond 64 bits. The same inside a string only sends that answer the slower way.
_NUMBER_START = bytes(ord("1") if chr(code) in "0123456789-" else ord("2") if chr(code) in ":,[ \t\r\n"
                      else ord("0") for code in range(256))
_LONG_NUMBER = b"2" + b"1" * 19


def loads(raw: bytes) -> Any:
    """The value of a JSON text; None for an empty one (as aiohttp's `ClientResponse.json`)."""
    if not raw.strip():
        return None
    if _LONG_NUMBER in raw.translate(_NUMBER_START):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII characters as they are."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
