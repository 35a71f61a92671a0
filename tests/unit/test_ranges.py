"""HTTP Range parsing (http/ranges.py): no CouchDB."""
import pytest

from kazoo_vm.http.ranges import Unsatisfiable, parse


@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None), ("bytes=0-99", (0, 99)), ("bytes=100-", (100, 999)), ("bytes=-100", (900, 999)),
    ("bytes=-5000", (0, 999)), ("bytes=990-5000", (990, 999)), (" bytes = 1 - 2 ", (1, 2)),
    ("bytes=5-1", None), ("bytes=-", None), ("items=0-1", None), ("bytes=0-1,5-6", None),
])
def test_one_range_of_a_thousand_bytes(header, expected):
    assert parse(header, 1000) == expected


@pytest.mark.parametrize("header, length", [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=-1", 0),
                                             ("bytes=0-", 0)])
def test_ranges_outside_the_body_are_unsatisfiable(header, length):
    with pytest.raises(Unsatisfiable):
        parse(header, length)
