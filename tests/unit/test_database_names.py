"""Kazoo's database names (storage/dbnames.py) and the names `_all_dbs` lists (devtools/cleanup.py): no CouchDB."""
from kazoo_vm.devtools.cleanup import real_name
from kazoo_vm.storage.dbnames import account_db, encoded, modb, to_db

ACCOUNT = "4a6863f0b1d2" + "0" * 20


def test_every_form_of_a_name_is_the_real_one():
    db = account_db(ACCOUNT)
    assert db == "account/4a/68/63f0b1d2" + "0" * 20
    for form in (ACCOUNT, db, encoded(db), encoded(db).replace("%2F", "%2f")):
        assert to_db(form) == db
    assert to_db(f"{ACCOUNT}-201605") == to_db(encoded(modb(ACCOUNT, 2016, 5))) == db + "-201605"
    assert to_db("accounts") is None


def test_names_pouchdb_server_lists_without_their_slashes():
    assert real_name("account" + ACCOUNT) == account_db(ACCOUNT)
    assert real_name(f"account{ACCOUNT}-202611") == modb(ACCOUNT, 2026, 11)
    assert real_name(modb(ACCOUNT, 2026, 11)) == modb(ACCOUNT, 2026, 11)
    assert real_name("_users") == "_users"
