"""Another project's tests, written as a kazoo-vm user writes them. `.ci/consumer-test` copies this file and
`message.mp3` into a temporary folder and runs it with kazoo-vm installed from its wheel; kazoo-vm's own
suite does not collect it (tests/conftest.py)."""
import json
import sys
import urllib.request
from pathlib import Path

import kazoo_vm

RECORDING = Path(__file__).parent / "message.mp3"


def test_kazoo_vm_comes_from_the_installed_package():
    assert Path(kazoo_vm.__file__).resolve().is_relative_to(Path(sys.prefix).resolve())


def test_a_message_is_uploaded_listed_and_downloaded(kazoo_vm_client):
    box = kazoo_vm_client.create_box(name="Reception", mailbox="3000")
    message = kazoo_vm_client.create_message(box["id"], RECORDING, caller_id_number="6001")

    listing = kazoo_vm_client.get(f"/vmboxes/{box['id']}/messages")
    assert listing.status == 200
    assert [(item["media_id"], item["caller_id_number"]) for item in listing.data] == [(message["media_id"], "6001")]
    assert kazoo_vm_client.audio(box["id"], message["media_id"]) == RECORDING.read_bytes()


def test_my_own_client_reaches_the_service(kazoo_vm_service, kazoo_vm_account):
    """The consumer's code under test talks plain HTTP to the URL and token the fixtures give."""
    assert kazoo_vm_account.url == kazoo_vm_service.url
    request = urllib.request.Request(f"{kazoo_vm_account.url}/v2/accounts/{kazoo_vm_account.id}/vmboxes",
                                     data=json.dumps({"data": {"name": "Sales", "mailbox": "3200"}}).encode(),
                                     headers={"X-Auth-Token": kazoo_vm_account.auth_token}, method="PUT")
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    with direct.open(request, timeout=60) as answer:
        assert answer.status == 201
        assert json.load(answer)["data"]["mailbox"] == "3200"
