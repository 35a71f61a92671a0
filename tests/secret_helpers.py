"""Looking for a secret in what the service answered or logged."""
from __future__ import annotations

import re


def shows(text: str, secret: str) -> bool:
    """Whether `text` holds the secret. A PIN is digits, which the random hex of request, account and message ids
    hold now and then ("515115d1d6af390a2c671bf589918273" holds "918273"): a PIN counts where no hex digit touches it."""
    if not secret.isdigit():
        return secret in text
    return re.search(rf"(?<![0-9a-fA-F]){secret}(?![0-9a-fA-F])", text) is not None
