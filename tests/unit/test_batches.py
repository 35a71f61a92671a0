"""How moves and migrations group their writes (voicemail/message_moves.py): no CouchDB."""
from kazoo_vm.voicemail.message_moves import INLINE_BATCH_BYTES, INLINE_BATCH_COUNT, Transfer, _batches, _by_target_db


def transfer(db: str, size: int, n: int = 0) -> Transfer:
    audio = {"_id": f"a{n}", "_attachments": {"x.wav": {"length": size}}} if size else None
    return Transfer({"_id": f"s{n}"}, "source", {"_id": f"t{n}"}, db, "source" if size else None, audio)


def test_batches_are_in_database_order_and_stay_under_the_inline_size():
    transfers = [transfer("b", 10, 1), transfer("a", 10, 2), transfer("b", 10, 3)]
    [batch] = _batches(transfers)
    assert [t.target_db for t in batch] == ["a", "b", "b"]
    assert [[t.target_db for t in group] for group in _by_target_db(batch).values()] == [["a"], ["b", "b"]]
    half = INLINE_BATCH_BYTES // 2 + 1
    assert [len(batch) for batch in _batches([transfer("a", half, n) for n in range(3)])] == [1, 1, 1]


def test_oversized_recordings_go_alone_and_counts_are_capped():
    small, big, other = transfer("a", 0, 1), transfer("a", INLINE_BATCH_BYTES + 1, 0), transfer("a", 0, 2)
    assert _batches([small, big, other]) == [[big], [small, other]]
    many = [transfer("a", 0, n) for n in range(INLINE_BATCH_COUNT + 1)]
    assert [len(batch) for batch in _batches(many)] == [INLINE_BATCH_COUNT, 1]
