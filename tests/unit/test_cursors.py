"""Opaque start keys (voicemail/paging.py): no CouchDB."""
import pytest

from kazoo_vm.voicemail.errors import Invalid
from kazoo_vm.voicemail.paging import SAFE_INTEGER, Cursor


@pytest.mark.parametrize("key", [["box", 63_000_000_000], [63_000_000_000, "box"], "id", 5, None, {"a": [1]}])
def test_a_cursor_survives_its_encoding(key):
    cursor = Cursor("202611", key, 3)
    token = cursor.encode()
    assert "=" not in token and Cursor.decode(token) == cursor


def test_after_points_past_its_row():
    assert Cursor("", "k", 0).after() == Cursor("", "k", 1)


def test_a_foreign_start_key_is_a_view_key_where_a_listing_takes_one():
    assert Cursor.decode("8f0c", "") == Cursor("", "8f0c", 0)
    with pytest.raises(Invalid):
        Cursor.decode("8f0c")


@pytest.mark.parametrize("key", [SAFE_INTEGER * 4, [[[[[[[[[["deep"]]]]]]]]]]])
def test_keys_couchdb_cannot_take_as_they_are_are_refused(key):
    with pytest.raises(Invalid):
        Cursor.decode(Cursor("", key, 0).encode())
