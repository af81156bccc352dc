"""The streaming redactor: whatever the split, the output is the whole body redacted at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamkit.redaction import MIN_SECRET_LENGTH, REDACTED, Redactor, request_secrets

# A small alphabet makes secrets overlap each other and the text around them often.
_ALPHABET = b"ab-/\n"
_secrets = st.lists(
    st.binary(min_size=MIN_SECRET_LENGTH, max_size=12).map(
        lambda b: bytes(_ALPHABET[x % 5] for x in b)
    ),
    min_size=1,
    max_size=3,
).map(lambda items: [item.decode() for item in items])
_bodies = st.binary(max_size=120).map(lambda b: bytes(_ALPHABET[x % 5] for x in b))


def _feed_split(redactor: Redactor, data: bytes, cuts: list[int]) -> bytes:
    points = sorted({min(cut, len(data)) for cut in cuts})
    out: list[bytes] = []
    start = 0
    for point in [*points, len(data)]:
        out.append(redactor.feed(data[start:point]))
        start = point
    out.append(redactor.flush())
    return b"".join(out)


@given(_secrets, _bodies, st.lists(st.integers(min_value=0, max_value=120), max_size=10))
def test_any_split_gives_the_whole_body_redacted(
    secrets: list[str], body: bytes, cuts: list[int]
) -> None:
    whole = Redactor(secrets).redact(body)
    assert _feed_split(Redactor(secrets), body, cuts) == whole


@given(_secrets, _bodies)
def test_one_byte_at_a_time_gives_the_whole_body_redacted(secrets: list[str], body: bytes) -> None:
    redactor = Redactor(secrets)
    pieces = [redactor.feed(body[i : i + 1]) for i in range(len(body))]
    assert b"".join(pieces) + redactor.flush() == Redactor(secrets).redact(body)


@given(
    st.text(st.characters(codec="utf-8"), min_size=MIN_SECRET_LENGTH, max_size=30),
    st.binary(max_size=50),
    st.binary(max_size=50),
    st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_no_secret_survives_any_split(
    secret: str, before: bytes, after: bytes, cuts: list[int]
) -> None:
    body = before + secret.encode() + after + secret.encode()
    out = _feed_split(Redactor([secret]), body, cuts)
    assert secret.encode() not in out
    assert out.count(REDACTED.encode()) >= 2


def test_a_stream_far_from_any_secret_is_not_held_back() -> None:
    redactor = Redactor(["sk-canary-123456"])
    assert redactor.feed(b'data: {"text": "hi"}\n\n') == b'data: {"text": "hi"}\n\n'


def test_the_start_of_a_secret_is_held_until_decided() -> None:
    redactor = Redactor(["sk-canary-123456"])
    assert redactor.feed(b"key=sk-can") == b"key="
    assert redactor.feed(b"dy") == b"sk-candy"
    assert redactor.flush() == b""


def test_secret_as_escaped_in_json_is_redacted() -> None:
    secret = "abc/def\u00e9ghij"
    redactor = Redactor([secret])
    for form in (
        b'"abc\\/def\\u00e9ghij"',
        b'"abc/def\\u00e9ghij"',
        '"abc\\/def\u00e9ghij"'.encode(),
    ):
        assert redactor.redact(form) == b'"[redacted]"'


def test_no_secrets_passes_bytes_through() -> None:
    redactor = Redactor(["", "short"])
    assert redactor.feed(b"anything") == b"anything"
    assert redactor.redact_text("x") == "x"


def test_repr_shows_no_secret() -> None:
    assert "canary" not in repr(Redactor(["canary-secret"]))


def test_request_secrets_takes_key_and_credential_headers() -> None:
    headers = {
        "Authorization": "Bearer tok-1",
        "x-api-key": "key-2",
        "content-type": "application/json",
    }
    assert set(request_secrets(headers, api_key="key-0", url="http://h/p?key=key-3&q=1")) == {
        "key-0",
        "Bearer tok-1",
        "tok-1",
        "key-2",
        "key-3",
    }
