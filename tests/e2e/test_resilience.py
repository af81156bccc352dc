"""Resilience against the embedded server's faults: retry, resume, timeouts, cancellation, soak.

Every stream here is a real HTTP request to the embedded server on 127.0.0.1. The server's
answer is deterministic (``answer_for``), so "no text lost, none repeated" is checked exactly.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest

from streamkit.bridge import aiter_events, collect
from streamkit.client import ChatEndpoint
from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    MalformedEventError,
    RetryExhaustedError,
    ServerError,
    StreamTimeoutError,
)
from streamkit.events import Retrying, Rewind, StreamEvent, TextDelta, ToolCall
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.operators.retry import ResumeMode, RetryPolicy
from streamkit.server import EmbeddedServer, answer_for
from streamkit.transport import Timeouts

FORMATS = ["openai", "anthropic", "responses", "gemini"]
PATHS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "responses": "/v1/responses",
    "gemini": "/v1beta/models/test-model:streamGenerateContent",
}
TOOLS = [
    {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
    {"name": "get_time", "description": "Time", "parameters": {"type": "object"}},
]
#: Deterministic backoff: the jitter draw is always one half.
POLICY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.04, random=lambda: 0.5)
TIMEOUTS = Timeouts(connect=5, first_token=5, idle=0.3, total=30)


def body_for(prompt: str, format_name: str, *, tools: bool = False) -> dict[str, Any]:
    if format_name == "responses":
        body = get_format("responses").prompt_body(
            prompt, model="test-model", system=None, max_tokens=1024
        )
        if tools:
            body["tools"] = [{"type": "function", **t} for t in TOOLS]
        return body
    if format_name == "gemini":
        body = get_format("gemini").prompt_body(
            prompt, model="test-model", system=None, max_tokens=1024
        )
        if tools:
            body["tools"] = [{"functionDeclarations": TOOLS}]
        return body
    body = {
        "model": "test-model",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": prompt}],
    }
    if tools and format_name == "openai":
        body["tools"] = [
            {
                "type": "function",
                "function": {k: t[k] for k in ("name", "description", "parameters")},
            }
            for t in TOOLS
        ]
    elif tools:
        body["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in TOOLS
        ]
    return body


def answer_to(body: dict[str, Any]) -> str:
    """The answer the server gives ``body`` of any format: its prompt is the first user text."""
    if "messages" in body:
        return answer_for(body)
    if "input" in body:
        prompt = body["input"][0]["content"]
    else:
        prompt = body["contents"][0]["parts"][0]["text"]
    return answer_for([{"role": "user", "content": prompt}])


def endpoint(server: EmbeddedServer, format_name: str, **headers: str) -> ChatEndpoint:
    return ChatEndpoint(
        server.url,
        format=format_name,
        api_key="test-key",
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        timeouts=TIMEOUTS,
    )


def attempts(server: EmbeddedServer, format_name: str) -> int:
    return sum(1 for request in server.requests if request.path == PATHS[format_name])


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def backoff(retry: int) -> float:
    """The delay POLICY gives before retry number ``retry`` (1-based), jitter drawn at 0.5."""
    return min(POLICY.max_delay, POLICY.base_delay * 2 ** (retry - 1)) * 0.5


# (fault spec, attempts it takes, delay of each retry or None for the policy's backoff)
RECOVERABLE: list[tuple[str, int, float | None]] = [
    *[(f"disconnect-after={k};first-attempts=1", 2, None) for k in (1, 2, 3, 5, 8, 13, 21, 34)],
    ("disconnect-after=4;first-attempts=3", 4, None),
    ("status=429;retry-after=0.05;first-attempts=2", 3, 0.05),
    ("status=500;first-attempts=1", 2, None),
    ("status=503;first-attempts=2", 3, None),
    ("status=529;first-attempts=1", 2, None),
    ("error-event-after=6:overloaded_error;first-attempts=1", 2, None),
    ("error-event-after=3:api_error;first-attempts=1", 2, None),
    ("stall=2@5;first-attempts=1", 2, None),
    ("malformed-after=5;first-attempts=1", 2, None),
]


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("resume", ["continue", "restart"])
@pytest.mark.parametrize(("fault", "expected_attempts", "retry_after"), RECOVERABLE)
async def test_every_recoverable_fault_gives_the_exact_answer(
    embedded_server: EmbeddedServer,
    format_name: str,
    resume: ResumeMode,
    fault: str,
    expected_attempts: int,
    retry_after: float | None,
) -> None:
    body = body_for(f"Resilience {fault}", format_name)
    source = endpoint(embedded_server, format_name, x_streamkit_fault=fault)

    events = await collect(source.stream(body, retry=POLICY, resume=resume))

    assert text_of(events) == answer_to(body)
    assert build_message(events).finish_reason == "stop"
    assert not any(isinstance(e, Rewind) for e in events)
    assert attempts(embedded_server, format_name) == expected_attempts
    retries = [e for e in events if isinstance(e, Retrying)]
    assert [r.attempt for r in retries] == list(range(2, expected_attempts + 1))
    expected_delays = [
        retry_after if retry_after is not None else backoff(n) for n in range(1, expected_attempts)
    ]
    assert [r.delay for r in retries] == pytest.approx(expected_delays)


MID_STREAM: list[tuple[str, type[Exception]]] = [
    ("disconnect-after=5", ConnectionLostError),
    ("error-event-after=6:overloaded_error", ServerError),
    ("stall=2@5", StreamTimeoutError),
    ("malformed-after=5", MalformedEventError),
]


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize(("fault", "error"), MID_STREAM)
async def test_resume_none_passes_on_a_failure_after_the_first_event(
    embedded_server: EmbeddedServer, format_name: str, fault: str, error: type[Exception]
) -> None:
    body = body_for("No resume", format_name)
    source = endpoint(embedded_server, format_name, x_streamkit_fault=fault + ";first-attempts=1")
    seen: list[StreamEvent] = []

    with pytest.raises(error):
        async for event in aiter_events(source.stream(body, retry=POLICY, resume="none")):
            seen.append(event)

    assert answer_to(body).startswith(text_of(seen))
    assert attempts(embedded_server, format_name) == 1


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("fault", ["status=429;retry-after=0", "status=500", "status=529"])
async def test_resume_none_retries_failures_before_the_first_event(
    embedded_server: EmbeddedServer, format_name: str, fault: str
) -> None:
    body = body_for("Before the first event", format_name)
    source = endpoint(embedded_server, format_name, x_streamkit_fault=fault + ";first-attempts=1")

    events = await collect(source.stream(body, retry=POLICY, resume="none"))

    assert text_of(events) == answer_to(body)
    assert attempts(embedded_server, format_name) == 2


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("resume", ["continue", "restart"])
@pytest.mark.parametrize("k", [2, 4, 7, 11, 16, 22, 30])
async def test_tool_calls_cut_mid_arguments_are_never_delivered_half(
    embedded_server: EmbeddedServer, format_name: str, resume: ResumeMode, k: int
) -> None:
    body = body_for("Weather and time, please", format_name, tools=True)
    clean = await collect(
        endpoint(embedded_server, format_name, x_streamkit_tool_calls="2").stream(body)
    )
    expected = build_message(clean)
    assert len(expected.tool_calls) == 2

    faulty = endpoint(
        embedded_server,
        format_name,
        x_streamkit_tool_calls="2",
        x_streamkit_fault=f"disconnect-after={k};first-attempts=1",
    )
    events = await collect(faulty.stream(body, retry=POLICY, resume=resume))
    message = build_message(events)

    assert [(c.name, c.arguments) for c in message.tool_calls] == [
        (c.name, c.arguments) for c in expected.tool_calls
    ]
    assert message.text == expected.text
    assert message.finish_reason == "tool_calls"
    assert not any(isinstance(e, ToolCall) and not e.valid for e in events)


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_non_retryable_statuses_fail_fast_with_one_attempt(
    embedded_server: EmbeddedServer, format_name: str, status: int
) -> None:
    body = body_for("Fail fast", format_name)
    source = endpoint(embedded_server, format_name, x_streamkit_fault=f"status={status}")

    with pytest.raises(APIStatusError) as caught:
        await collect(source.stream(body, retry=POLICY))

    assert caught.value.status == status
    assert not isinstance(caught.value, RetryExhaustedError)
    assert attempts(embedded_server, format_name) == 1


@pytest.mark.parametrize("format_name", FORMATS)
async def test_exhausted_attempts_carry_every_cause(
    embedded_server: EmbeddedServer, format_name: str
) -> None:
    body = body_for("Always overloaded", format_name)
    source = endpoint(embedded_server, format_name, x_streamkit_fault="status=529")
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, random=lambda: 0.0)

    with pytest.raises(RetryExhaustedError) as caught:
        await collect(source.stream(body, retry=policy))

    assert [type(c) for c in caught.value.causes] == [ServerError] * 3
    assert all(c.status == 529 for c in caught.value.causes)  # type: ignore[attr-defined]
    assert attempts(embedded_server, format_name) == 3


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("phase", ["first_token", "idle", "total"])
async def test_each_timeout_is_typed_and_retried(
    embedded_server: EmbeddedServer, format_name: str, phase: str
) -> None:
    body = body_for(f"Timeout {phase}", format_name)
    stall_at = 0 if phase == "first_token" else 4
    timeouts = {
        "first_token": Timeouts(first_token=0.2, idle=None),
        "idle": Timeouts(first_token=None, idle=0.2),
        "total": Timeouts(first_token=None, idle=None, total=0.3),
    }[phase]
    fault = f"stall=1@{stall_at};first-attempts=1"
    source = ChatEndpoint(
        embedded_server.url,
        format=format_name,
        headers={"x-streamkit-fault": fault},
        timeouts=timeouts,
    )

    with pytest.raises(StreamTimeoutError) as caught:
        await collect(source.stream(body))
    assert caught.value.phase == phase

    events = await collect(source.stream(body, retry=POLICY, resume="continue"))
    assert text_of(events) == answer_to(body)


async def _no_stray_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still running streamkit code (the client's or the server's), after a few turns."""
    for _ in range(5):
        await asyncio.sleep(0)
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current and f"{os.sep}streamkit{os.sep}" in _code_file(task)
    ]


def _code_file(task: asyncio.Task[Any]) -> str:
    code = getattr(task.get_coro(), "cr_code", None)
    return code.co_filename if code is not None else ""


@pytest.mark.parametrize("format_name", FORMATS)
async def test_leaving_async_for_mid_stream_closes_the_connection(format_name: str) -> None:
    async with EmbeddedServer(rate=200.0) as server:
        body = body_for("Cancel me", format_name)
        seen = 0
        async for event in aiter_events(endpoint(server, format_name).stream(body, retry=POLICY)):
            seen += isinstance(event, TextDelta)
            if seen == 3:
                break

        await server.wait_idle(timeout=2.0)
        assert server.open_connections == 0
        assert await _no_stray_tasks() == []


@pytest.mark.parametrize("format_name", FORMATS)
async def test_disposing_during_a_backoff_wait_starts_no_new_attempt(
    embedded_server: EmbeddedServer, format_name: str
) -> None:
    source = endpoint(embedded_server, format_name, x_streamkit_fault="status=500")
    slow = RetryPolicy(base_delay=30.0, max_delay=30.0, random=lambda: 1.0)
    retrying = asyncio.Event()
    subscription = source.stream(body_for("Backoff", format_name), retry=slow).subscribe(
        on_next=lambda e: retrying.set() if isinstance(e, Retrying) else None
    )
    await asyncio.wait_for(retrying.wait(), timeout=5)

    subscription.dispose()
    await asyncio.sleep(0.1)

    assert attempts(embedded_server, format_name) == 1
    assert embedded_server.open_connections == 0
    assert await _no_stray_tasks() == []


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("when", [0.0, 0.05])
async def test_disposing_before_or_while_connecting_leaves_nothing_open(
    embedded_server: EmbeddedServer, format_name: str, when: float
) -> None:
    source = endpoint(embedded_server, format_name, x_streamkit_fault="stall=1@0")
    subscription = source.stream(body_for("Early", format_name), retry=POLICY).subscribe()
    await asyncio.sleep(when)

    subscription.dispose()

    await embedded_server.wait_idle(timeout=2.0)
    assert embedded_server.open_connections == 0
    assert await _no_stray_tasks() == []


SOAK_FAULTS = [
    "",
    "disconnect-after={k};first-attempts=1",
    "disconnect-after={k};first-attempts=2",
    "status=429;retry-after=0;first-attempts=1",
    "status=500;first-attempts=1",
    "status=529;first-attempts=2",
    "error-event-after={k}:overloaded_error;first-attempts=1",
    "malformed-after={k};first-attempts=1",
]


async def test_soak_hundreds_of_streams_with_random_faults() -> None:
    rng = random.Random(20261125)
    plans = [
        (
            f"Soak prompt number {i}",
            rng.choice(FORMATS),
            rng.choice(["continue", "restart"]),
            rng.choice(SOAK_FAULTS).format(k=rng.randint(1, 40)),
        )
        for i in range(200)
    ]
    gate = asyncio.Semaphore(25)

    async with EmbeddedServer() as server:

        async def one(prompt: str, format_name: str, resume: ResumeMode, fault: str) -> bool:
            body = body_for(prompt, format_name)
            headers = {"x_streamkit_session": prompt}
            if fault:
                headers["x_streamkit_fault"] = fault
            async with gate:
                events = await collect(
                    endpoint(server, format_name, **headers).stream(
                        body, retry=POLICY, resume=resume
                    )
                )
            return text_of(events) == answer_to(body)

        results = await asyncio.gather(*(one(*plan) for plan in plans))

        assert all(results), [plan for plan, ok in zip(plans, results, strict=True) if not ok]
        await server.wait_idle(timeout=5.0)
        assert server.open_connections == 0
        assert await _no_stray_tasks() == []


@pytest.mark.parametrize("format_name", FORMATS)
async def test_a_custom_predicate_decides_what_is_retried(
    embedded_server: EmbeddedServer, format_name: str
) -> None:
    def conflicts_too(error: BaseException) -> bool:
        return isinstance(error, APIStatusError) and error.status in (400, 529)

    policy = RetryPolicy(base_delay=0.01, retryable=conflicts_too)
    body = body_for("Custom predicate", format_name)
    retried = endpoint(
        embedded_server, format_name, x_streamkit_fault="status=400;first-attempts=1"
    )
    assert text_of(await collect(retried.stream(body, retry=policy))) == answer_to(body)

    refused = endpoint(embedded_server, format_name, x_streamkit_fault="status=503")
    with pytest.raises(ServerError):
        await collect(refused.stream(body, retry=policy))
    assert attempts(embedded_server, format_name) == 3  # two for the 400, one for the 503
