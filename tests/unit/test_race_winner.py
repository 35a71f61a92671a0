"""Who won a race for a document on a cluster (storage/couch.py `_beaten`, docs/couchdb.md "Racing writers"), and
which leaf a read by id stands for (`_winner`): the leaves of an `open_revs=all&revs=true` or `_bulk_get`
answer, without CouchDB."""
from kazoo_vm.storage.couch import RETRACTED, _beaten, _winner


def leaf(rev: str, *path: str, deleted: bool = False, **fields) -> dict:
    """A leaf at `rev` whose ancestors are `path` (nearest first)."""
    generation, rev_id = rev.split("-", 1)
    body = {"_rev": rev, "_revisions": {"start": int(generation), "ids": [rev_id, *path]}, **fields}
    return {"ok": {**body, "_deleted": True} if deleted else body}


def test_alone_it_wins():
    assert not _beaten([leaf("2-b", "a")], 2, "b")


def test_a_sibling_of_the_same_revision_is_ordered_by_revision_id():
    assert _beaten([leaf("2-b", "a"), leaf("2-c", "a")], 2, "b")
    assert not _beaten([leaf("2-b", "a"), leaf("2-c", "a")], 2, "c")


def test_what_was_written_on_top_of_it_is_its_own_branch():
    assert not _beaten([leaf("4-d", "c", "b", "a"), leaf("2-a9", "a")], 2, "b")


def test_a_rival_that_went_on_after_winning_beats_it_even_deleted():
    assert _beaten([leaf("2-z", "a"), leaf("3-t", "b", "a", deleted=True)], 2, "z")


def test_a_write_on_a_revision_already_replaced_loses_to_the_branch_that_replaced_it():
    # a copy that lagged took an update of 1-a after 2-b and 3-c had replaced it elsewhere
    assert _beaten([leaf("2-z", "a"), leaf("3-c", "b", "a")], 2, "z")
    assert not _beaten([leaf("2-z", "a"), leaf("3-c", "b", "a")], 3, "c")


def test_a_losers_retraction_is_no_rival():
    assert not _beaten([leaf("2-b", "a"), leaf("3-r", "c", "a", deleted=True, **{RETRACTED: True})], 2, "b")
    assert _beaten([leaf("2-b", "a"), leaf("3-r", "c", "a", deleted=True)], 2, "b")


def test_answers_that_are_not_leaves_are_ignored():
    assert not _beaten([{"missing": "2-x"}, leaf("2-b", "a")], 2, "b")
    assert not _beaten({"error": "not_found"}, 2, "b")


# --- the document a `_bulk_get` answer stands for (`_winner`, docs/couchdb.md "Reading documents by id") ---

def test_a_live_leaf_wins_over_a_deleted_one_further_on():
    assert _winner([leaf("3-d", "c", "a", deleted=True), leaf("2-b", "a", value=1)])["_rev"] == "2-b"


def test_leaves_are_ordered_by_generation_then_revision_id():
    assert _winner([leaf("2-b", "a"), leaf("3-c", "x", "a"), leaf("3-b", "y", "a")])["_rev"] == "3-c"


def test_a_leaf_on_another_leafs_path_is_an_older_revision_of_it():
    """A copy that was down answers with the live revision the others have since deleted."""
    winner = _winner([leaf("2-b", "a", value=1), leaf("3-c", "b", "a", deleted=True)])
    assert winner["_rev"] == "3-c" and winner["_deleted"] and "_revisions" not in winner


def test_no_leaf_is_a_missing_document():
    assert _winner([{"error": {"id": "x", "error": "not_found", "reason": "missing"}}]) is None
    assert _winner(None) is None
