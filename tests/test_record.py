"""Record a live stream's bytes, replay them: the same events, at the recorded pace if asked."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
import reactivex
from reactivex.testing import ReactiveTest, TestScheduler

from streamkit.bridge import collect
from streamkit.client import stream_chat
from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    ProtocolError,
    RetryExhaustedError,
)
from streamkit.events import ContentEvent, Finish, Retrying, StreamEvent, StreamStart, TextDelta
from streamkit.fold.message_builder import build_message
from streamkit.formats import FormatName, get_format
from streamkit.operators.retry import ResumeMode, RetryPolicy
from streamkit.record import Chunk, Recorder, load_recording, replay
from streamkit.server import EmbeddedServer
from streamkit.sinks.jsonl import read_jsonl

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed

BODY: dict[str, Any] = {
    "model": "test-model",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Tell me about rivers."}],
}


def _openai_bytes(events: list[ContentEvent]) -> list[bytes]:
    """What the server writes for ``events``: one chunk per event, then the end marker."""
    encoder = get_format("openai").encoder()
    return [*(encoder.encode(e) for e in events if not isinstance(e, Finish)), encoder.finish()]


def _write(path: Path, chunks: list[tuple[float, bytes]], fmt: str = "openai") -> None:
    lines = [{"streamkit_recording": 1, "format": fmt, "request": None, "created": None}]
    lines += [{"t": t, "b": base64.b64encode(b).decode()} for t, b in chunks]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


SCRIPT: list[ContentEvent] = [
    StreamStart("chatcmpl-1", "m"),
    TextDelta("One "),
    TextDelta("two."),
]


ALL_FORMATS: list[FormatName] = ["openai", "anthropic", "responses", "gemini"]


def _body(fmt: FormatName) -> dict[str, Any]:
    """BODY's request in ``fmt``'s own shape."""
    if fmt in ("openai", "anthropic"):
        return BODY
    prompt = BODY["messages"][0]["content"]
    return get_format(fmt).prompt_body(prompt, model="test-model", system=None, max_tokens=200)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
async def test_replay_gives_the_message_the_live_stream_gave(
    tmp_path: Path, fmt: FormatName
) -> None:
    path = tmp_path / f"{fmt}.jsonl"
    body = _body(fmt)
    async with EmbeddedServer(rate=2000) as server:
        with Recorder(path, format=fmt, request_body=body, metadata={"run": 1}) as recorder:
            live = await collect(stream_chat(server.url, body, format=fmt, tap=recorder))
        await server.wait_idle()
    replayed = await collect(replay(path))
    assert replayed == live
    assert [e.wire_bytes for e in replayed] == [e.wire_bytes for e in live]
    assert [e.raw for e in replayed] == [e.raw for e in live]
    gaps = [e.received_at - replayed[0].received_at for e in replayed]
    assert gaps == pytest.approx([e.received_at - live[0].received_at for e in live], abs=1e-5)
    assert build_message(replayed) == build_message(live)
    assert build_message(live).text  # the server said something
    recording = load_recording(path)
    assert (recording.format, recording.request, recording.metadata) == (fmt, body, {"run": 1})
    assert 0.0 <= recording.chunks[0].t < 1.0  # from the start of the response body
    assert recording.responses == (recording.chunks,)
    assert [c.t for c in recording.chunks] == sorted(c.t for c in recording.chunks)


def test_recordings_keep_no_credentials(tmp_path: Path) -> None:
    path = tmp_path / "secret.jsonl"
    body = {
        **BODY,
        "api_key": "sk-1",
        "openai_api_key": "sk-2",
        "metadata": {"Authorization": "Bearer x", "user": "u", "x-goog-api-key": "g-3"},
    }
    metadata = {"x-api-key": "k", "n": 2, "access_token": "t-4"}
    Recorder(path, format="openai", request_body=body, metadata=metadata)
    (header,) = read_jsonl(path)
    assert header["request"] == {**BODY, "metadata": {"user": "u"}}  # max_tokens stays
    assert header["metadata"] == {"n": 2}
    for secret in (b"sk-1", b"sk-2", b"Bearer", b"g-3", b"t-4"):
        assert secret not in path.read_bytes()


def test_a_new_recorder_replaces_the_file_and_records_times_from_the_first_chunk(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"old\n")
    recorder = Recorder(path, format="anthropic")
    recorder(b"data: 1\n", 100.25)
    recorder(b"\n", 101.5)
    recorder.close()
    recording = load_recording(path)
    assert recording.chunks == (Chunk(0.0, b"data: 1\n"), Chunk(1.25, b"\n"))
    assert recording.body == b"data: 1\n\n"
    with pytest.raises(ValueError):
        recorder(b"late", 102.0)


def test_timed_replay_emits_at_the_recorded_times_divided_by_speed(tmp_path: Path) -> None:
    path = tmp_path / "timed.jsonl"
    data = _openai_bytes(SCRIPT)
    _write(path, [(0.0, data[0]), (1.0, data[1]), (3.0, data[2]), (4.0, data[3])])
    scheduler = TestScheduler()
    results = scheduler.start(lambda: replay(path, speed=2.0, scheduler=scheduler))
    assert results.messages == [
        on_next(200.0, SCRIPT[0]),
        on_next(200.5, SCRIPT[1]),
        on_next(201.5, SCRIPT[2]),
        on_completed(202.0),
    ]


def test_replayed_events_are_stamped_with_the_recorded_times(tmp_path: Path) -> None:
    path = tmp_path / "stamps.jsonl"
    data = _openai_bytes(SCRIPT)
    _write(path, [(0.0, data[0]), (1.0, data[1]), (3.0, b"".join(data[2:]))])
    scheduler = TestScheduler()
    stamps: list[float] = []
    replay(path, speed=4.0, scheduler=scheduler).subscribe(lambda e: stamps.append(e.received_at))
    scheduler.start()
    fast: list[StreamEvent] = []
    replay(path, scheduler=scheduler).subscribe(fast.append)
    now = scheduler.clock
    assert [e.received_at - now for e in fast][-1] == 3.0  # original pace, though emitted at once
    assert stamps[-1] - stamps[0] == 0.75


def test_disposing_a_timed_replay_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "dispose.jsonl"
    data = _openai_bytes(SCRIPT)
    _write(path, [(float(i), chunk) for i, chunk in enumerate(data)])
    scheduler = TestScheduler()
    results = scheduler.start(lambda: replay(path, speed=1.0, scheduler=scheduler), disposed=201.5)
    assert results.messages == [on_next(200.0, SCRIPT[0]), on_next(201.0, SCRIPT[1])]


def test_a_recording_cut_short_ends_like_the_live_stream(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    data = _openai_bytes(SCRIPT)
    _write(path, [(0.0, data[0]), (0.1, data[1])])
    events: list[StreamEvent] = []
    errors: list[Exception] = []
    replay(path).subscribe(events.append, errors.append)
    assert [type(e) for e in errors] == [ConnectionLostError]
    assert events[-1] == SCRIPT[1]


def test_fast_replay_stops_when_disposed_mid_way(tmp_path: Path) -> None:
    path = tmp_path / "take.jsonl"
    _write(path, [(0.0, b"".join(_openai_bytes(SCRIPT)))])
    taken: list[StreamEvent] = []
    replay(path).pipe(reactivex.operators.take(2)).subscribe(taken.append)
    assert len(taken) == 2


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "no header"),
        (b'{"t": 0, "b": ""}\n', "no header"),
        (b'{"streamkit_recording": 2, "format": "openai"}\n', "version"),
        (b'{"streamkit_recording": 1, "format": "grpc"}\n', "grpc"),
        (b'{"streamkit_recording": 1, "format": "openai"}\n{"t": 0, "b": "%%"}\n', "line 2"),
    ],
)
def test_files_that_are_not_recordings_raise(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ProtocolError, match=match):
        load_recording(path)
    errors: list[Exception] = []
    replay(path).subscribe(on_error=errors.append)
    assert len(errors) == 1 and isinstance(errors[0], ProtocolError)


def test_speed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        replay(tmp_path / "x", speed=0)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("resume", ["continue", "restart"])
@pytest.mark.parametrize("tools", [0, 2])
async def test_a_retried_stream_replays_as_it_went_live(
    tmp_path: Path, fmt: FormatName, resume: ResumeMode, tools: int
) -> None:
    path = tmp_path / "retried.jsonl"
    body = {**_body(fmt), "tools": _tools(fmt, "get_weather", "get_time")}
    # Gemini sends a tool call whole: its answer with two calls is three events.
    cut = 1 if fmt == "gemini" and tools else 4
    headers = {"x-streamkit-fault": f"disconnect-after={cut};first-attempts=2"}
    if tools:
        headers["x-streamkit-tool-calls"] = str(tools)
    policy = RetryPolicy(base_delay=0.001, random=lambda: 0.5)
    async with EmbeddedServer() as server:
        with Recorder(path) as recorder:  # the client tells it format, request and resume
            live = await collect(
                stream_chat(
                    server.url,
                    body,
                    format=fmt,
                    headers=headers,
                    retry=policy,
                    resume=resume,
                    tap=recorder,
                )
            )

    recording = load_recording(path)
    replayed = await collect(replay(path))

    assert len(recording.responses) == 3
    assert (recording.format, recording.resume, recording.request) == (fmt, resume, body)
    assert build_message(replayed) == build_message(live)
    assert [type(e) for e in replayed] == [type(e) for e in live]
    assert [e.attempt for e in replayed if isinstance(e, Retrying)] == [2, 3]


def _tools(fmt: FormatName, *names: str) -> list[dict[str, Any]]:
    schema = {"type": "object"}
    if fmt == "openai":
        return [{"type": "function", "function": {"name": n, "parameters": schema}} for n in names]
    if fmt == "responses":
        return [{"type": "function", "name": n, "parameters": schema} for n in names]
    if fmt == "gemini":
        return [{"functionDeclarations": [{"name": n, "parameters": schema} for n in names]}]
    return [{"name": n, "input_schema": schema} for n in names]


async def test_replayed_times_are_on_the_clock_the_progress_meter_uses(tmp_path: Path) -> None:
    from streamkit.operators.progress import measure_progress

    path = tmp_path / "meter.jsonl"
    data = _openai_bytes(SCRIPT)
    _write(path, [(0.0, data[0]), (1.0, data[1]), (2.0, data[2]), (3.0, data[3])])
    fast = measure_progress()  # time.monotonic, like the live source
    await collect(replay(path).pipe(fast))
    stats = fast.meter.summary
    assert stats is not None and stats.ttft is not None
    # the recorded timing, though emitted at once: first text at 1 s, the last event at 2 s
    # (the end marker at 3 s makes no event)
    assert 1.0 <= stats.ttft < 1.5 and 2.0 <= stats.elapsed < 2.5
    timed = measure_progress()
    _write(path, [(0.0, data[0]), (0.01, data[1]), (0.02, data[2]), (0.03, data[3])])
    await collect(replay(path, speed=3.0).pipe(timed))  # on the running asyncio loop
    stats = timed.meter.summary
    assert stats is not None and stats.ttft is not None
    assert 0.0 < stats.ttft < 1.0 and 0.01 <= stats.elapsed < 2.0  # not wall-clock seconds


def _write_attempts(
    path: Path, responses: list[tuple[float, list[tuple[float, bytes]]]], resume: ResumeMode
) -> None:
    """A recording of ``(start, [(t, bytes), ...])`` responses, as ``Recorder`` writes it."""
    lines: list[dict[str, Any]] = [
        {"streamkit_recording": 1, "format": "openai", "request": None, "resume": resume}
    ]
    for number, (start, chunks) in enumerate(responses, 1):
        lines.append({"t": start, "response": number})
        lines += [{"t": t, "b": base64.b64encode(b).decode()} for t, b in chunks]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def test_the_recorder_times_every_chunk_from_its_first_call(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    with Recorder(path, format="openai") as recorder:
        recorder(b"", 100.0)  # the source marks the first response body
        recorder(b"a", 100.25)
        recorder(b"", 101.0)  # a retry's response body
        recorder(b"b", 101.5)
    recording = load_recording(path)
    assert recording.responses == ((Chunk(0.25, b"a"),), (Chunk(1.5, b"b"),))


@pytest.mark.parametrize("speed", [None, 1.0])
@pytest.mark.parametrize("responses", [[], [(0.0, [])]], ids=["header only", "empty body"])
def test_a_recording_without_bytes_ends_with_connection_lost(
    tmp_path: Path, speed: float | None, responses: list[tuple[float, list[tuple[float, bytes]]]]
) -> None:
    path = tmp_path / "empty.jsonl"
    _write_attempts(path, responses, "restart")
    scheduler = TestScheduler()
    results = scheduler.start(lambda: replay(path, speed=speed, scheduler=scheduler))
    assert len(results.messages) == 1
    assert results.messages[0].time == 200.0
    assert isinstance(results.messages[0].value.exception, ConnectionLostError)


def _retried_recording(path: Path) -> list[StreamEvent]:
    """Attempt 1 cut after "One " at 1 s; attempt 2 asked for at 3 s, whole, to 5 s (restart)."""
    data = _openai_bytes([*SCRIPT, TextDelta("Three.")])
    _write_attempts(
        path,
        [
            (0.0, [(0.5, data[0]), (1.0, data[1])]),
            (
                3.0,
                [(3.5, data[0]), (4.0, data[1]), (4.5, data[2]), (4.75, data[3]), (5.0, data[4])],
            ),
        ],
        "restart",
    )
    return [*SCRIPT, TextDelta("Three.")]


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_a_timed_replay_keeps_the_recorded_wait_between_attempts(
    tmp_path: Path, speed: float
) -> None:
    path = tmp_path / "retried.jsonl"
    script = _retried_recording(path)
    scheduler = TestScheduler()
    results = scheduler.start(lambda: replay(path, speed=speed, scheduler=scheduler))
    events = [(m.time, m.value.value) for m in results.messages if m.value.kind == "N"]
    at = {t: 200.0 + t / speed for t in (0.5, 1.0, 4.5, 4.75, 5.0)}
    assert [(time, event) for time, event in events if not isinstance(event, Retrying)] == [
        (at[0.5], script[0]),
        (at[1.0], script[1]),
        (at[4.5], script[2]),  # the restart repeats "One ", which is not shown again
        (at[4.75], script[3]),
    ]
    assert [(time, type(e)) for time, e in events if isinstance(e, Retrying)] == [
        (at[1.0], Retrying)
    ]
    assert results.messages[-1] == on_completed(at[5.0])
    stamps = [(time, e.received_at) for time, e in events if not isinstance(e, Retrying)]
    assert all(stamp == pytest.approx(time) for time, stamp in stamps)  # the virtual clock


def test_a_fast_replay_stamps_every_attempt_on_one_timeline(tmp_path: Path) -> None:
    path = tmp_path / "retried.jsonl"
    script = _retried_recording(path)
    scheduler = TestScheduler()
    scheduler.advance_to(50.0)
    events: list[StreamEvent] = []
    done: list[bool] = []
    replay(path, scheduler=scheduler).subscribe(events.append, on_completed=lambda: done.append(1))
    scheduler.start()  # later attempts continue on the scheduler
    assert done
    stamped = [(e, e.received_at - 50.0) for e in events if not isinstance(e, Retrying)]
    assert stamped == [(script[0], 0.5), (script[1], 1.0), (script[2], 4.5), (script[3], 4.75)]


async def test_a_fast_replay_measures_the_recorded_timing_across_attempts(
    tmp_path: Path,
) -> None:
    from streamkit.operators.progress import measure_progress

    path = tmp_path / "retried.jsonl"
    _retried_recording(path)
    fast = measure_progress()
    await collect(replay(path).pipe(fast))
    stats = fast.meter.summary
    assert stats is not None and stats.ttft is not None and stats.retries == 1
    # the first text at 1 s, the last at 4.75 s, the restart's repeated text not shown again
    assert 1.0 <= stats.ttft < 1.5 and 4.75 <= stats.elapsed < 5.5
    assert min(stats.latencies) >= 0.25 and max(stats.latencies) == pytest.approx(3.5, abs=0.01)


async def test_a_retried_replay_ends_with_the_error_the_live_run_ended_with(
    tmp_path: Path,
) -> None:
    fmt = get_format("openai")
    encoder = fmt.encoder()
    cut = [encoder.encode(SCRIPT[0]), encoder.encode(SCRIPT[1])]
    refused = fmt.error_event("invalid_request_error", "bad request")
    path = tmp_path / "refused.jsonl"
    _write_attempts(
        path, [(0.0, [(0.1, cut[0]), (0.2, cut[1])]), (1.0, [(1.1, refused)])], "restart"
    )
    with pytest.raises(APIStatusError, match="bad request") as raised:
        await collect(replay(path))
    assert not isinstance(raised.value, RetryExhaustedError)
    # the last recorded attempt's retryable error passes unchanged too
    _write_attempts(path, [(0.0, [(0.1, cut[0])]), (1.0, [(1.1, cut[0])])], "restart")
    with pytest.raises(ConnectionLostError):
        await collect(replay(path))
