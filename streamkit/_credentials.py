"""Which header and field names may hold credentials: one rule for every place that hides them.

The source redacts them from error messages, the recorder drops them from recordings, the
embedded server leaves them out of the requests it records.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["is_credential_name"]

#: Words that mark a name as a credential when they appear as a whole part of it.
_CREDENTIAL_WORDS: Final = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "key",
        "password",
        "secret",
        "token",
    }
)
_PARTS: Final = re.compile(r"[a-z0-9]+")


def is_credential_name(name: str) -> bool:
    """Whether ``name`` (a header or a JSON field) may hold a credential.

    The name is split into words at anything but letters and digits: ``x-api-key``,
    ``openai_api_key``, ``Authorization`` and ``access_token`` are credentials; ``max_tokens``
    and ``input_tokens`` are not.
    """
    return any(part in _CREDENTIAL_WORDS for part in _PARTS.findall(name.lower()))
