async def test_create_and_get_box(api, couch):
    box = await api.create_box(name="Smoke", mailbox="100")
    response = await api.get(f"/vmboxes/{box['id']}")
    assert response.status == 200
    assert response.data["name"] == "Smoke"
    stored = await couch.get(f"account/{api.account_id[:2]}/{api.account_id[2:4]}/{api.account_id[4:]}", box["id"])
    assert stored["pvt_type"] == "vmbox"
