"""Blank the secrets a request carried out of everything its response says: pure, incremental.

A server may echo the credential it was sent anywhere in its answer: a 401 body, a 200
``text/html`` page, an in-stream error event, a malformed event. Whatever streamkit quotes from
a response (error messages and bodies, recordings, ``Retrying.cause``, JSONL files, the CLI's
stderr) comes from the bytes the transport read, so the transport passes every byte of a
response through one ``Redactor`` before anything else sees it, and no later layer has to
remember to.

``Redactor`` is sans-IO: ``feed`` bytes in pieces of any size, ``flush`` at the end. A secret
split across two pieces is caught: the redactor holds back the end of a piece for as long as it
could still be the start of a secret (only then, so a stream that never comes near a secret is
passed on without delay). Whatever the split, the output is the same as redacting the whole body
at once (``redact``).

Example:
    >>> redactor = Redactor(["sk-secret"])
    >>> redactor.feed(b"key: sk-se")
    b'key: '
    >>> redactor.feed(b"cret!")
    b'[redacted]!'
    >>> redactor.flush()
    b''
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from streamkit._credentials import is_credential_name

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor", "request_secrets"]

#: What a secret is replaced with.
REDACTED: Final = "[redacted]"
#: Shorter values are not treated as secrets: blanking every "k" or "abc" would corrupt the
#: answer itself, and a credential that short guards nothing.
MIN_SECRET_LENGTH: Final = 8
_REDACTED_BYTES: Final = REDACTED.encode()


def request_secrets(
    headers: Mapping[str, str], *, api_key: str | None = None, url: str | None = None
) -> tuple[str, ...]:
    """The credentials a request carries: ``api_key``, credential headers and query parameters.

    A header or query parameter is a credential when ``is_credential_name`` says so
    (``authorization``, ``x-api-key``, ``cookie``, ``key``, ...); both a header's whole value
    and, for ``Bearer``/``Basic``-style values, the token after the scheme are secrets.
    """
    found: list[str] = [api_key] if api_key else []
    if url:
        found += [
            value for name, value in parse_qsl(urlsplit(url).query) if is_credential_name(name)
        ]
    for name, value in headers.items():
        if not is_credential_name(name):
            continue
        found.append(value.strip())
        scheme, _, token = value.strip().partition(" ")
        if token and scheme.isalpha():
            found.append(token.strip())
    return tuple(dict.fromkeys(secret for secret in found if secret))


class Redactor:
    """Replaces every occurrence of the given secrets in a byte stream with ``[redacted]``.

    Each secret is matched as its UTF-8 bytes and as it reads inside a JSON string (a server
    that echoes it in a JSON body may escape ``/`` or non-ASCII characters). Where two secrets
    overlap, the one starting first wins, and at one position the longest.

    One instance redacts one stream. With no secrets it passes bytes through untouched.

    Args:
        secrets: the strings to blank out; those shorter than ``MIN_SECRET_LENGTH`` are ignored.
    """

    __slots__ = ("_held", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[bytes] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.add(secret.encode())
            for ensure_ascii in (False, True):  # as JSON encoders write it inside a string
                escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1].encode()
                forms.add(escaped)
                forms.add(escaped.replace(b"/", b"\\/"))
        # Longest first: at one position the regex takes the first alternative that matches.
        self._secrets: tuple[bytes, ...] = tuple(sorted(forms, key=lambda s: (-len(s), s)))
        self._pattern: re.Pattern[bytes] | None = (
            re.compile(b"|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )
        self._held = b""

    def __repr__(self) -> str:
        # Never the secrets themselves.
        return f"Redactor({len(self._secrets)} forms)"

    def redact(self, data: bytes) -> bytes:
        """``data`` with every secret blanked out, as one whole piece (ignores held bytes)."""
        if self._pattern is None:
            return data
        return self._pattern.sub(_REDACTED_BYTES, data)

    def redact_text(self, text: str) -> str:
        """``text`` with every secret blanked out: for headers and other quoted strings."""
        if self._pattern is None:
            return text
        return self.redact(text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    def feed(self, data: bytes) -> bytes:
        """Redact the next piece of the stream; return what is certain to hold no secret.

        The end of ``data`` is held back while it could be the start of a secret; it comes out
        with a later ``feed`` or with ``flush``.
        """
        if self._pattern is None:
            return data
        buffer = self._held + data if self._held else data
        out: list[bytes] = []
        position = 0
        for match in self._pattern.finditer(buffer):
            if self._undecided_from(buffer, position) <= match.start():
                break  # a longer secret may still start there: decide with more bytes
            out.append(buffer[position : match.start()])
            out.append(_REDACTED_BYTES)
            position = match.end()
        hold = self._undecided_from(buffer, position)
        out.append(buffer[position:hold])
        self._held = buffer[hold:]
        return b"".join(out)

    def flush(self) -> bytes:
        """The stream ended: redact and return the bytes still held back."""
        held, self._held = self._held, b""
        return self.redact(held)

    def _undecided_from(self, buffer: bytes, start: int) -> int:
        """The first position at or after ``start`` where a secret may begin but not end yet.

        That is where ``buffer``'s remainder is a proper prefix of a secret; ``len(buffer)`` if
        there is none.
        """
        end = len(buffer)
        earliest = end
        for secret in self._secrets:
            # Only the last len(secret) - 1 positions can hold an unfinished secret.
            position = buffer.find(secret[:1], max(start, end - len(secret) + 1), earliest)
            while position != -1:
                if secret.startswith(buffer[position:]):
                    earliest = position
                    break
                position = buffer.find(secret[:1], position + 1, earliest)
        return earliest
