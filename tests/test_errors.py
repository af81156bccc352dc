"""The error hierarchy, retryable flags, retry-after parsing, and API keys kept out of sight."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDict

from streamkit.client import ChatEndpoint, stream_chat
from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    ConnectionLostError,
    MalformedEventError,
    ProtocolError,
    RateLimitError,
    RetryExhaustedError,
    ServerError,
    StreamkitError,
    StreamTimeoutError,
    ToolCallError,
    TransportError,
    truncate,
)
from streamkit.http_headers import retry_after_seconds
from streamkit.transport import Timeouts

SECRET = "sk-proj-DoNotLeakThis0123456789"


def test_hierarchy() -> None:
    assert issubclass(ProtocolError, StreamkitError) and issubclass(ProtocolError, ValueError)
    assert issubclass(ToolCallError, ProtocolError)
    assert issubclass(MalformedEventError, ProtocolError)
    for cls in (AuthenticationError, RateLimitError, ServerError):
        assert issubclass(cls, APIStatusError)
    assert issubclass(APIStatusError, StreamkitError)
    assert issubclass(ConnectionLostError, TransportError)
    assert issubclass(StreamTimeoutError, TransportError)
    assert issubclass(StreamTimeoutError, TimeoutError)
    assert issubclass(RetryExhaustedError, StreamkitError)
    assert not issubclass(APIStatusError, TransportError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, APIStatusError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, APIStatusError),
        (408, APIStatusError),
        (409, APIStatusError),
        (422, APIStatusError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (529, ServerError),
    ],
)
def test_for_status_picks_the_class(status: int, cls: type[APIStatusError]) -> None:
    error = APIStatusError.for_status(status, "msg", error_type="t", request_id="r")
    assert type(error) is cls
    assert (error.status, error.message, error.error_type, error.request_id) == (
        status,
        "msg",
        "t",
        "r",
    )
    assert str(error) == f"{status} t: msg"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert APIStatusError.for_status(status, "m").retryable


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_not_retryable_statuses(status: int) -> None:
    assert not APIStatusError.for_status(status, "m").retryable


def test_other_retryable_flags() -> None:
    assert TransportError("x").retryable
    assert ConnectionLostError("x").retryable
    assert StreamTimeoutError("idle", 1.0).retryable
    assert not ProtocolError("x").retryable
    assert MalformedEventError("x").retryable  # the next response may well be fine
    assert not ToolCallError("x", name="f", call_id="c", arguments="{").retryable
    assert not RetryExhaustedError("x", []).retryable


def test_error_attributes() -> None:
    timeout = StreamTimeoutError("first_token", 2.5)
    assert (timeout.phase, timeout.seconds) == ("first_token", 2.5)
    assert "first_token" in str(timeout) and "2.5" in str(timeout)
    causes = [ConnectionLostError("a"), RateLimitError("b", status=429)]
    exhausted = RetryExhaustedError("gave up", causes)
    assert exhausted.causes == tuple(causes)
    call = ToolCallError("bad", name="f", call_id="c1", arguments="{")
    assert (call.name, call.call_id, call.arguments) == ("f", "c1", "{")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "200", "retry-after": "9"}, 0.2),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),  # garbage falls back
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({"retry-after": "garbage"}, None),
        ({"retry-after-ms": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # ms is never a date
        ({"retry-after": "-5"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)
    headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert retry_after_seconds(headers, now=now) == 30.0


def test_retry_after_from_case_insensitive_response_headers() -> None:
    headers = CIMultiDict({"Retry-After-Ms": "100"})
    assert retry_after_seconds(headers) == 0.1


def test_truncate() -> None:
    assert truncate("short") == "short"
    long = "x" * 250
    assert truncate(long) == "x" * 200 + "... (50 more characters)"


# -- API keys never shown ---------------------------------------------------------------------


def test_key_not_in_endpoint_repr() -> None:
    endpoint = ChatEndpoint(
        "http://127.0.0.1:1", api_key=SECRET, headers={"authorization": f"Bearer {SECRET}"}
    )
    assert SECRET not in repr(endpoint)
    assert SECRET not in str(endpoint)


def test_credentials_in_base_url_not_in_repr() -> None:
    endpoint = ChatEndpoint(f"http://user:{SECRET}@127.0.0.1:1/v1?key={SECRET}")
    assert SECRET not in repr(endpoint)
    assert "127.0.0.1:1/v1" in repr(endpoint)


def test_key_not_in_url_errors() -> None:
    with pytest.raises(ValueError) as info:
        ChatEndpoint(f"ftp://user:{SECRET}@127.0.0.1/?key={SECRET}")
    assert SECRET not in str(info.value)


@pytest_asyncio.fixture
async def echoing_401() -> AsyncIterator[str]:
    """A server that answers 401 and, like some real APIs, echoes the key it was sent."""

    async def handler(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("x-api-key") or request.headers.get("authorization") or ""
        body = {
            "error": {
                "message": f"Incorrect API key provided: {key}",
                "type": "authentication_error",
            }
        }
        headers = {"x-echo": key, "X-Request-Id": "req_1", "request-id": "req_1"}
        return web.json_response(body, status=401, headers=headers)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
@pytest.mark.parametrize("in_header", [False, True])
async def test_key_not_in_401_error_or_logs(
    echoing_401: str, fmt: str, in_header: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    header = "Authorization" if fmt == "openai" else "X-Api-Key"
    value = f"Bearer {SECRET}" if fmt == "openai" else SECRET
    events = stream_chat(
        echoing_401,
        {"model": "m", "messages": []},
        format=fmt,  # type: ignore[arg-type]
        api_key=None if in_header else SECRET,
        headers={header: value} if in_header else None,
        timeouts=Timeouts(connect=2, first_token=2, idle=2),
    )
    done: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
    events.subscribe(on_error=done.set_result, on_completed=lambda: done.set_result(Exception()))
    async with asyncio.timeout(5):
        error = await done
    assert isinstance(error, AuthenticationError)
    assert error.status == 401 and error.error_type == "authentication_error"
    assert "Incorrect API key provided" in error.message  # the message itself is kept
    assert error.request_id == "req_1"  # headers are still read case-insensitively
    texts = [str(error), repr(error), error.message, repr(error.body), repr(error.args)]
    for text in texts:
        assert SECRET not in text
    assert SECRET not in caplog.text
