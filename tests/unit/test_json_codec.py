"""The service's JSON decoding and encoding give the values and the text the standard library gives."""
from __future__ import annotations

import json
import math

import pytest

from kazoo_vm import json_codec

TEXTS = [
    b'{"a":123456789012345678901234567890}', b'{"a":-9223372036854775809}', b'[18446744073709551616]',
    b'{"a": 99999999999999999999}', b'{"a":\n99999999999999999999}', b'{"a":9223372036854775807,"b":-1}',
    b'{"call_id":"1234567890123456789012","n":1}', b'"\\ud800"', b'{"a":1,"a":2}', b'{"a":1.5e300,"b":-0.0}',
    b'{"s":"caf\xc3\xa9 \\u2028"}', b'{"rows":[{"key":["box",63900000000],"value":null}]}',
]


@pytest.mark.parametrize("raw", TEXTS)
def test_a_text_decodes_to_the_standard_librarys_value(raw):
    value = json_codec.loads(raw)
    assert value == json.loads(raw)
    assert json.dumps(value) == json.dumps(json.loads(raw))  # the same types: an int stays an int


def test_a_number_beyond_a_double_decodes_as_the_standard_library_does():
    assert json_codec.loads(b"[1e400]") == [math.inf]


@pytest.mark.parametrize("raw", [b"", b"  \r\n"])
def test_an_empty_answer_is_none(raw):
    assert json_codec.loads(raw) is None


def test_a_broken_text_raises_a_value_error():
    with pytest.raises(ValueError):
        json_codec.loads(b'{"a":')


@pytest.mark.parametrize("value", [
    {"huge": 2 ** 70, "small": -1}, {1: "non-string key"}, {"é": "ü\u2028", "list": [1, 2.5, None, True]},
])
def test_encoding_gives_compact_json_with_the_standard_librarys_values(value):
    encoded = json_codec.dumps(value)
    assert json.loads(encoded) == json.loads(json.dumps(value))
    assert b": " not in encoded and b", " not in encoded


def test_non_ascii_is_written_as_it_is():
    assert json_codec.dumps({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
