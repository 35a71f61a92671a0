"""Download names of recordings (voicemail/message.py, voicemail/messages.py): no CouchDB."""
from kazoo_vm.storage.dbnames import GREGORIAN_UNIX_OFFSET
from kazoo_vm.voicemail.accounts import Account
from kazoo_vm.voicemail.message import Audio, download_name
from kazoo_vm.voicemail.messages import unique_names

ACCOUNT = Account("a" * 32, "Acme", "acme.example", (), "Europe/Paris")
# 2016-05-02 11:58:42 UTC
MOMENT = 1462190322 + GREGORIAN_UNIX_OFFSET


def test_caller_date_and_time_in_the_box_timezone():
    doc = {"metadata": {"caller_id_number": "6001", "timestamp": MOMENT}}
    assert download_name(doc, {"timezone": "America/New_York"}, ACCOUNT, "x.mp3") == "6001_2016-05-02_07:58:42.mp3"
    assert download_name(doc, {}, ACCOUNT, "x.wav") == "6001_2016-05-02_13:58:42.wav"
    utc = Account("a" * 32, "", "", (), None)
    assert download_name(doc, {"timezone": "Nowhere/Else"}, utc, "noext") == "6001_2016-05-02_11:58:42"


def test_unknown_callers_odd_characters_and_unusable_times():
    doc = {"metadata": {"caller_id_number": "+1 (555) 0100", "timestamp": "yesterday"}, "utc_seconds": MOMENT}
    assert download_name(doc, {}, Account("a" * 32, "", "", (), None), "x.mp3") == "+1__555__0100_2016-05-02_11:58:42.mp3"
    assert download_name({"metadata": {"timestamp": MOMENT}}, {}, ACCOUNT, "a.mp3").startswith("unknown_")


def test_same_names_in_one_zip_are_numbered():
    recordings = [Audio("db", str(n), "a", "audio/wav", 1, name, None) for n, name in
                  enumerate(["a.wav", "a.wav", "a.wav", "b", "b"])]
    assert [audio.filename for audio in unique_names(recordings)] == ["a.wav", "a_1.wav", "a_2.wav", "b", "b_1"]
