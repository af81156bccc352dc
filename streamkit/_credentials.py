"""Which header and field names may hold credentials: one rule for every place that hides them.

The source redacts them from error messages, the recorder drops them from recordings, the
embedded server leaves them out of the requests it records (``EmbeddedServer.requests``).

The rule is deliberately wide: keeping a harmless header out of a log costs nothing, while one
missed name (``x-custom-bearer``, ``X-Access-Token``, ``sessionId``) leaks a secret.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["is_credential_name"]

#: Words that mark a name as a credential when they appear as a whole part of it.
_CREDENTIAL_WORDS: Final = frozenset(
    {
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "credential",
        "credentials",
        "key",
        "passwd",
        "password",
        "secret",
        "session",
        "signature",
        "token",
    }
)
#: Run-together spellings seen in the wild that the split into words cannot reach.
_COMPOUNDS: Final = frozenset(
    {
        "apikey",
        "accesstoken",
        "authtoken",
        "bearertoken",
        "clientsecret",
        "csrftoken",
        "jsessionid",
        "phpsessid",
        "privatekey",
        "refreshtoken",
        "sessid",
        "sessionid",
        "sessiontoken",
        "xsrftoken",
    }
)
# camelCase boundaries (``accessToken``, ``APIKey``) become separators before lower-casing.
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PARTS: Final = re.compile(r"[a-z0-9]+")


def is_credential_name(name: str) -> bool:
    """Whether ``name`` (a header or a JSON field) may hold a credential.

    The name is split into words at anything but letters and digits and at camelCase
    boundaries; it is a credential when a word is one of bearer, token, secret, key, auth,
    authorization, cookie, signature, password, session or credential(s), or the whole name
    run together is a known compound (``apikey``, ``sessionid``…). So ``x-api-key``,
    ``x-custom-bearer``, ``x-access-token``, ``accessToken``, ``Set-Cookie`` and
    ``x-amz-signature`` are credentials; ``max_tokens``, ``input_tokens`` and ``keyboard`` are
    not (plural counts and longer words are not the credential words).
    """
    spaced = _CAMEL.sub("-", name).lower()
    parts = _PARTS.findall(spaced)
    if any(part in _CREDENTIAL_WORDS for part in parts):
        return True
    joined = "".join(_PARTS.findall(name.lower()))
    return joined in _COMPOUNDS or any(part in _COMPOUNDS for part in parts)
