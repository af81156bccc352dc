"""Scaling: the cost per event must not grow with the length of the stream.

Two paths had costs that grew with what came before: the retry layer, whose ledger once copied
the whole delivered text for every text event, and OpenAI tool calls that reuse index 0 with a
new id for every call, whose index resolution took the maximum of every index given out. Each
benchmark runs one path at sizes 10x apart and reports the time per event (or per call) and
its growth against the smallest size: a flat path stays near 1.00x, a quadratic one grows 10x
per step. Everything runs in memory, synchronously, so only the path itself is timed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import reactivex
from reactivex import Observable
from reactivex.scheduler import CurrentThreadScheduler

from bench.data import token_texts
from bench.results import Row, Table, ratio
from bench.timing import time_call
from streamkit.chat_decoder import ChatDecoder
from streamkit.errors import ConnectionLostError
from streamkit.events import ContentEvent, Finish, StreamEvent, StreamStart, TextDelta
from streamkit.operators.final_message import to_message
from streamkit.operators.retry import RetryPolicy, retry_with_backoff
from streamkit.operators.tool_calls import assemble_tool_calls
from streamkit.sse import encode_event

__all__ = ["bench_retry_scaling", "bench_tool_call_scaling", "tool_call_stream"]

_GROWTH = "growth (x)"


def bench_retry_scaling(
    *, sizes: Sequence[int] = (10_000, 100_000, 1_000_000), repeat: int = 1
) -> Table:
    """Cost per event of ``retry_with_backoff`` over answers of ``sizes`` text events.

    Three cases per size: no failure (the ledger only records); a failure half-way, retried with
    ``resume="restart"`` (the second attempt is compared with the delivered half, then delivered);
    and the same with ``resume="continue"`` (the delivered text is joined once, the continuation
    appended). Retries wait 0 s on a trampoline, so nothing but the operator is timed.
    """
    rows: list[Row] = []
    for case in ("no failure", "restart half-way", "continue half-way"):
        base: float | None = None
        for size in sizes:
            events = _answer(size)
            run = _retry_run(events, case)
            expected = _expected_text(events)
            if run() != expected:
                raise AssertionError(f"retry ({case}, {size}): the text delivered is wrong")
            per_event = time_call(run, repeat=repeat, warmup=_warmup(size)).best / size * 1e6
            base = base or per_event
            rows.append(
                Row(
                    f"{case}: {size:,} events",
                    {"events": size, "µs/event": per_event, _GROWTH: ratio(per_event, base)},
                )
            )
    return Table(
        name="retry_scaling",
        title="Scaling: retry_with_backoff, cost per event as the answer grows",
        columns=("events", "µs/event", _GROWTH),
        rows=tuple(rows),
        notes=(
            "growth = µs/event relative to the smallest answer of the same case (flat: 1.00x).",
            "The failing cases count the events of both attempts' sources once (the answer's "
            "length): the first attempt gives half, the second the whole again or the rest.",
        ),
    )


def _warmup(size: int) -> int:
    """One untimed run first, except at the largest sizes, where first-use costs are lost."""
    return 1 if size < 1_000_000 else 0


def _answer(size: int) -> list[ContentEvent]:
    events: list[ContentEvent] = [StreamStart(id="chatcmpl-scale", model="bench-model")]
    events.extend(TextDelta(text) for text in token_texts(size))
    events.append(Finish("stop", raw_reason="stop"))
    return events


def _expected_text(events: list[ContentEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def _retry_run(events: list[ContentEvent], case: str) -> Callable[[], str]:
    half = len(events) // 2
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, deadline=None)

    def run() -> str:
        attempts = 0

        def attempt() -> Observable[StreamEvent]:
            nonlocal attempts
            attempts += 1
            if case != "no failure" and attempts == 1:
                return reactivex.concat(
                    reactivex.from_iterable(events[:half]),
                    reactivex.throw(ConnectionLostError("cut half-way (benchmark)")),
                )
            return reactivex.from_iterable(events)

        def continuation(partial: str) -> Observable[StreamEvent]:
            delivered = sum(1 for event in events[:half] if isinstance(event, TextDelta))
            rest = [e for e in events if not isinstance(e, TextDelta)]
            texts = [e for e in events if isinstance(e, TextDelta)][delivered:]
            return reactivex.from_iterable([rest[0], *texts, *rest[1:]])

        operator = retry_with_backoff(
            policy,
            resume="continue" if case.startswith("continue") else "restart",
            continuation=continuation if case.startswith("continue") else None,
            scheduler=CurrentThreadScheduler(),
        )
        pieces: list[str] = []

        def on_next(event: StreamEvent) -> None:
            if isinstance(event, TextDelta):
                pieces.append(event.text)

        reactivex.defer(lambda _: attempt()).pipe(operator).subscribe(
            on_next, scheduler=CurrentThreadScheduler()
        )
        return "".join(pieces)

    return run


def bench_tool_call_scaling(
    *, sizes: Sequence[int] = (1_000, 10_000, 100_000), repeat: int = 1
) -> Table:
    """Cost per tool call of an OpenAI stream whose every call reuses index 0 with a new id.

    Gemini's OpenAI-compatible API streams parallel calls so. Three pipelines per size: bytes to
    events (``ChatDecoder``), then ``assemble_tool_calls()``, then ``to_message()``.
    """
    rows: list[Row] = []
    pipelines: dict[str, Callable[[Observable[StreamEvent]], Observable[Any]] | None] = {
        "decode": None,
        "decode + assemble_tool_calls()": assemble_tool_calls(),
        "decode + to_message()": to_message(),
    }
    for label, pipe in pipelines.items():
        base: float | None = None
        for calls in sizes:
            data = tool_call_stream(calls)
            run = _tool_run(data, pipe)
            check = run()
            if check != calls:
                raise AssertionError(f"tool calls ({label}, {calls}): got {check} calls")
            per_call = time_call(run, repeat=repeat, warmup=_warmup(calls)).best / calls * 1e6
            base = base or per_call
            rows.append(
                Row(
                    f"{label}: {calls:,} calls",
                    {"calls": calls, "µs/call": per_call, _GROWTH: ratio(per_call, base)},
                )
            )
    return Table(
        name="tool_call_scaling",
        title="Scaling: OpenAI tool calls reusing index 0, cost per call as the answer grows",
        columns=("calls", "µs/call", _GROWTH),
        rows=tuple(rows),
        notes=(
            "Each call is three chunks (id and name, two argument pieces); the stream is decoded "
            "from bytes in 8 KiB reads. growth = µs/call relative to the smallest size.",
        ),
    )


def tool_call_stream(calls: int) -> list[bytes]:
    """An OpenAI stream of ``calls`` tool calls, all at index 0, each with its own id, in 8 KiB
    reads."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return encode_event(orjson.dumps({"id": "chatcmpl-tools", "choices": [choice]}))

    parts = [chunk({"role": "assistant", "content": None})]
    for n in range(calls):
        call = {"index": 0, "id": f"call_{n}", "type": "function"}
        parts.append(chunk({"tool_calls": [{**call, "function": {"name": "f", "arguments": ""}}]}))
        parts.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"n": '}}]}))
        parts.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": f"{n}}}"}}]}))
    parts.append(chunk({}, "tool_calls"))
    parts.append(encode_event("[DONE]"))
    data = b"".join(parts)
    return [data[i : i + 8192] for i in range(0, len(data), 8192)]


def _tool_run(
    feeds: list[bytes], pipe: Callable[[Observable[StreamEvent]], Observable[Any]] | None
) -> Callable[[], int]:
    def decoded() -> list[ContentEvent]:
        decoder = ChatDecoder("openai")
        events: list[ContentEvent] = []
        for feed in feeds:
            events += decoder.feed(feed)
        decoder.close()
        return events

    def run() -> int:
        events = decoded()
        if pipe is None:
            return sum(1 for event in events if type(event).__name__ == "ToolCallEnd")
        out: list[Any] = []
        pipe(reactivex.from_iterable(events)).subscribe(out.append)
        if out and hasattr(out[-1], "tool_calls"):  # to_message(): one Message
            return len(out[-1].tool_calls)
        return sum(1 for item in out if type(item).__name__ == "ToolCall")

    return run
