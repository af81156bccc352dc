"""A canary key through every path: no output streamkit writes ever shows it.

A hostile server echoes every request header (the API key and a credential header among them)
into whatever it answers: a streamed answer, an HTTP error body, an in-stream error event, a
malformed event, a ``text/html`` page, a stream that stalls. Each path runs through the public
API with retries, recording, JSONL files, replay and the CLI; every output is gathered (error
messages, reprs and whole tracebacks, events, files, recordings decoded, replays, CLI stdout and
stderr, DEBUG logs) and searched for the canary: it must occur zero times.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from reactivex import Observable

import streamkit as sk
from streamkit.record import Recorder, load_recording, replay
from streamkit.sinks import read_jsonl, to_jsonl
from tests.hostile_server import (
    Behaviour,
    HostileServer,
    echo_headers,
    head,
    sequence,
    sse_head,
    trickle,
)

CANARY = "sk-canary-0d9e8f7a6b5c4d3e2f1a"
HEADER_CANARY = "tok-canary-99aa88bb77cc66dd"
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
ANTHROPIC_BODY = {
    "model": "claude",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
QUICK = sk.Timeouts(connect=5, first_token=5, content_idle=5, idle=5, total=10)
RETRY = sk.RetryPolicy(max_attempts=2, base_delay=0)


def _openai_chunk(text: str, finish: str | None = None) -> bytes:
    payload = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _answer(echoed: str) -> bytes:
    return _openai_chunk(f"you sent {echoed}") + _openai_chunk("", "stop") + b"data: [DONE]\n\n"


def _error_event(echoed: str) -> bytes:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": echoed}}
    start = {"type": "message_start", "message": {"id": "m", "model": "c", "role": "assistant"}}
    return (
        b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n"
        b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"
    )


#: Each path: (name, format, behaviour of the server, expect an error).
PATHS: list[tuple[str, str, Behaviour, bool]] = [
    ("answer", "openai", echo_headers(sse_head(), _answer), False),
    (
        "http 401",
        "openai",
        echo_headers(
            head(401, "application/json"),
            lambda e: orjson.dumps({"error": {"message": e, "type": "invalid_api_key"}}),
        ),
        True,
    ),
    (
        "http 503 retried",
        "anthropic",
        echo_headers(
            head(503, "application/json", x_request_id=CANARY),
            lambda e: orjson.dumps({"type": "error", "error": {"type": "api_error", "message": e}}),
        ),
        True,
    ),
    ("in-stream error retried", "anthropic", echo_headers(sse_head(), _error_event), True),
    (
        "malformed event retried",
        "openai",
        echo_headers(sse_head(), lambda e: _openai_chunk("Hi") + f"data: {{{e}\n\n".encode()),
        True,
    ),
    (
        "200 text/html",
        "openai",
        echo_headers(head(200, "text/html"), lambda e: f"<html>{e}</html>".encode()),
        True,
    ),
    (
        "undecodable content-encoding",
        "openai",
        echo_headers(sse_head(content_encoding="br"), lambda e: e.encode()),
        True,
    ),
    (
        "cut then answer",
        "openai",
        sequence(
            echo_headers(sse_head(), lambda e: _openai_chunk(e[:40]) + _openai_chunk(e[40:])),
            echo_headers(sse_head(), _answer),
        ),
        False,
    ),
]


@pytest_asyncio.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


def _describe(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    chained: BaseException | None = error
    while chained is not None:  # the reprs of the foreign exceptions it was translated from
        parts.append(repr(chained))
        chained = chained.__cause__ or chained.__context__
    for cause in getattr(error, "causes", ()):
        parts.append(_describe(cause))
    parts.append(repr(getattr(error, "body", None)))
    return "\n".join(parts)


async def _outcome(events: Observable[Any]) -> tuple[list[Any], BaseException | None]:
    items: list[Any] = []
    try:
        async with asyncio.timeout(15):
            async for item in sk.aiter_events(events):
                items.append(item)
    except sk.StreamkitError as error:
        return items, error
    return items, None


def _files(folder: Path) -> str:
    """Every file under ``folder`` as text, with each recording's chunks decoded."""
    parts: list[str] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        parts.append(path.read_text(errors="replace"))
        if path.name.startswith("recording"):
            recording = load_recording(path)
            parts += [chunk.data.decode(errors="replace") for chunk in recording.chunks]
            for record in read_jsonl(path):
                if "b" in record:  # the raw base64, decoded again, whatever load_recording does
                    parts.append(base64.b64decode(record["b"]).decode(errors="replace"))
    return "\n".join(parts)


@pytest.mark.parametrize(("name", "format", "behaviour", "fails"), PATHS, ids=[p[0] for p in PATHS])
async def test_no_output_of_any_path_shows_the_canary(
    hostile: HostileServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    format: str,
    behaviour: Behaviour,
    fails: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    hostile.behaviour = behaviour
    body = OPENAI_BODY if format == "openai" else ANTHROPIC_BODY
    endpoint = sk.ChatEndpoint(
        hostile.url,
        format=format,  # type: ignore[arg-type]
        api_key=CANARY,
        headers={"x-access-token": HEADER_CANARY},
        timeouts=QUICK,
    )
    recorder = Recorder(tmp_path / "recording.jsonl")
    events = endpoint.stream(body, retry=RETRY, resume="restart", tap=recorder).pipe(
        to_jsonl(tmp_path / "events.jsonl"), to_jsonl(tmp_path / "messages.jsonl", what="messages")
    )
    items, error = await _outcome(events)
    recorder.close()
    assert (error is not None) == fails, error
    assert hostile.requests, "the server saw no request"
    assert any(CANARY in str(r.headers) for r in hostile.requests)  # it was sent, and echoed

    replayed, replay_error = await _outcome(replay(tmp_path / "recording.jsonl"))
    outputs = [
        repr(items),
        repr(endpoint),
        repr(recorder),
        _describe(error) if error else "",
        repr(replayed),
        _describe(replay_error) if replay_error else "",
        _files(tmp_path),
        caplog.text,
    ]
    if not fails:
        message = await sk.collect_message(endpoint.stream(body, resume="restart", retry=RETRY))
        outputs += [
            repr(message),
            orjson.dumps(endpoint.wire_format.response_body(message)).decode(),
        ]
    found = [output for output in outputs if CANARY in output or HEADER_CANARY in output]
    assert found == [], name


async def _run_cli(url: str, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    env = {**os.environ, "STREAMKIT_API_KEY": CANARY, "PYTHONPATH": str(Path.cwd())}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamkit",
        "chat",
        "Hi",
        "--base-url",
        url,
        "--max-attempts",
        "2",
        "--record",
        str(tmp_path / "recording-cli.jsonl"),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


CLI_PATHS: list[tuple[str, Callable[[], Behaviour], tuple[str, ...]]] = [
    ("answer", lambda: echo_headers(sse_head(), _answer), ()),
    ("answer as json", lambda: echo_headers(sse_head(), _answer), ("--json",)),
    (
        "200 text/html",
        lambda: echo_headers(head(200, "text/html"), lambda e: f"<p>{e}</p>".encode()),
        (),
    ),
    (
        "malformed event, retries exhausted",
        lambda: echo_headers(sse_head(), lambda e: f"data: {{{e}\n\n".encode()),
        (),
    ),
    (
        "http 401",
        lambda: echo_headers(head(401, "application/json"), lambda e: orjson.dumps({"error": e})),
        (),
    ),
    (
        "a stall: content_idle timeout",
        lambda: trickle(
            sse_head(),
            [_openai_chunk("Hi")],
            every=0.05,
            then_forever=b": keep-alive\n\n",
        ),
        ("--no-retry", "--content-idle-timeout", "0.5"),
    ),
]


@pytest.mark.parametrize(("name", "behaviour", "extra"), CLI_PATHS, ids=[p[0] for p in CLI_PATHS])
async def test_the_cli_never_prints_or_records_the_canary(
    hostile: HostileServer,
    tmp_path: Path,
    name: str,
    behaviour: Callable[[], Behaviour],
    extra: tuple[str, ...],
) -> None:
    hostile.behaviour = behaviour()
    code, out, err = await _run_cli(hostile.url, tmp_path, *extra)
    assert any(CANARY in str(r.headers) for r in hostile.requests)
    files = _files(tmp_path) if (tmp_path / "recording-cli.jsonl").exists() else ""
    assert CANARY not in out + err + files, (name, code)
