"""Who gets a new voicemail's email (teletype_voicemail_to_email process_req/maybe_add_user_email,
docs/notifications.md): the box's `notify_email_addresses` (else the legacy `notify_email_address`, a string
or a list); the owner's `email` is put first when the owner's `vm_to_email_enabled` is true, and taken out
of the list, even when the box names it, when it is false or absent. Addresses that are not `user@domain`
are dropped (teletype_util:check_address_value); each address once."""
from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def is_address(value: str) -> bool:
    parts = value.split("@")
    return len(parts) == 2 and all(part.strip() for part in parts) and not any(c.isspace() for c in value)


def recipients(box: JSON, owner: JSON | None) -> list[str]:
    listed = _listed(box.get("notify_email_addresses")) if "notify_email_addresses" in box \
        else _listed(box.get("notify_email_address"))
    addresses = [address.strip() for address in listed]
    owner_email = (owner or {}).get("email")
    if isinstance(owner_email, str) and owner_email.strip():
        owner_email = owner_email.strip()
        addresses = [address for address in addresses if address.lower() != owner_email.lower()]
        if (owner or {}).get("vm_to_email_enabled") is True:
            addresses.insert(0, owner_email)
    unique: list[str] = []
    for address in addresses:
        if is_address(address) and address.lower() not in {known.lower() for known in unique}:
            unique.append(address)
    return unique
