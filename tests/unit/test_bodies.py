"""Request bodies and the inputs made of them (http/bodies.py, http/inputs.py): no CouchDB."""
import pytest
from multidict import MultiDict

from kazoo_vm.http import bodies, inputs
from kazoo_vm.voicemail.errors import FaultyRequest, Invalid
from kazoo_vm.voicemail.inputs import ListingQuery, MessageChange
from kazoo_vm.voicemail.paging import MAX_PAGE_SIZE


@pytest.mark.parametrize("raw", ['{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', '{"a": "\\ud800"}',
                                 "[" * 65 + "]" * 65, "{", "nul"])
def test_json_that_couchdb_or_a_browser_cannot_take_is_refused(raw):
    with pytest.raises(Invalid) as refused:
        bodies.loads(raw)
    assert refused.value.message == "invalid json" and "json" in refused.value.data


def test_json_within_the_limits_is_read():
    assert bodies.loads('{"a": [1.5, "é"]}') == {"a": [1.5, "é"]}
    assert bodies.loads("[" * 63 + "]" * 63)
    assert bodies.data_of({"data": None}) == {} and bodies.data_of({}) == {}
    with pytest.raises(Invalid):
        bodies.data_of({"data": []})


def test_a_listing_query():
    query = MultiDict([("page_size", "20"), ("start_key", "k"), ("created_from", "63000000000"),
                       ("created_to", "-5"), ("ascending", "true"), ("filter_folder", "new")])
    parsed = inputs.listing_query(query, strict_page_size=True)
    assert parsed.page_size == 20 and parsed.start_key == "k" and parsed.created_from == 63000000000
    assert parsed.created_to is None and parsed.descending is False and len(parsed.filters) == 1
    assert inputs.listing_query(MultiDict({"paginate": "false", "page_size": "x"}), strict_page_size=True) == \
        ListingQuery(paginate=False)
    assert inputs.descending({"ascending": "true", "descending": "true"})
    assert inputs.descending({"ascending": "false"})


@pytest.mark.parametrize("raw, lenient", [("0", None), ("abc", None), ("7", 7), ("99999999999", MAX_PAGE_SIZE)])
def test_page_sizes(raw, lenient):
    assert inputs.page_size({"page_size": raw}, strict=False) == lenient
    if lenient is None:
        with pytest.raises(FaultyRequest):
            inputs.page_size({"page_size": raw}, strict=True)


def test_message_ids_targets_and_folder():
    assert inputs.message_ids({"messages": ["a", "b", "a"]}, 5) == ["a", "b"]
    assert inputs.message_ids({}, 5, required=False) is None
    for data in ({}, {"messages": []}, {"messages": [1]}, {"messages": ["a", "b"]}):
        with pytest.raises(Invalid):
            inputs.message_ids(data, 1)
    assert inputs.targets({}) is None and inputs.targets({"source_id": "b"}) == "b"
    assert inputs.targets({"source_id": ["b", "c"]}) == ("b", "c")
    for value in ("", [], ["b", ""], 5):
        with pytest.raises(Invalid):
            inputs.targets({"source_id": value})
    assert inputs.message_change({"folder": "new"}, {"folder": "saved"}, {}) == MessageChange("new")
    assert inputs.given_folder({}, {"folder": "saved"}, {"folder": "new"}) == "saved"
    assert inputs.given_folder({}, {}, {"folder": "new"}) == "new"
