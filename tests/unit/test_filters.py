"""Query-string filters (http/inputs.py parses them, voicemail/filters.py evaluates them): no CouchDB."""
from multidict import MultiDict

from kazoo_vm.http.inputs import filters as parse
from kazoo_vm.voicemail import filters
from kazoo_vm.voicemail.inputs import Filter

DOC = {"name": "Reception", "mailbox": "3000", "flags": ["a"], "media": {"unavailable": ""}, "on": True,
       "metadata": {"folder": "new", "length": 5}}


def accepts(query: dict, doc: dict = DOC, prefix: str = "") -> bool:
    predicate = filters.build(parse(MultiDict(query)), prefix)
    assert predicate is not None
    return predicate(doc)


def test_only_filter_parameters_are_filters():
    assert parse(MultiDict({"page_size": "5", "paginate": "false", "start_key": "x"})) == ()
    assert filters.build(()) is None
    assert parse(MultiDict([("filter_name", "a"), ("filter_not_name", "b"), ("has_key", "c")])) == (
        Filter("equals", "name", frozenset({"a"})), Filter("not_equals", "name", frozenset({"b"})),
        Filter("has_key", "c"))


def test_equality_on_paths_texts_and_lists():
    assert accepts({"filter_name": "Reception"})
    assert not accepts({"filter_name": "reception"})
    assert accepts({"filter_media.unavailable": ""})
    assert accepts({"filter_on": "true"})
    assert accepts({"filter_flags": '[["a"]]'})
    assert accepts({"filter_mailbox": '["1000", "3000"]'})
    assert accepts({"filter_mailbox": "[not json"}, {"mailbox": "[not json"})
    assert not accepts({"filter_missing": "x"})


def test_negation_and_presence():
    assert accepts({"filter_not_name": "Other"})
    assert accepts({"filter_not_missing": "x"})
    assert not accepts({"filter_not_name": "Reception"})
    assert accepts({"has_key": "media.unavailable"}) and not accepts({"has_key": "nothing"})
    assert accepts({"key_missing": "nothing"})
    assert accepts({"value_missing": "media.unavailable"}) and not accepts({"has_value": "media.unavailable"})


def test_every_filter_must_pass_and_messages_filter_on_metadata():
    assert not accepts({"filter_name": "Reception", "filter_mailbox": "1"})
    assert accepts({"filter_folder": "new", "filter_length": "5"}, prefix="metadata.")
    assert filters.paths(parse(MultiDict({"filter_folder": "new", "has_value": "call_id"}))) == {"folder", "call_id"}
