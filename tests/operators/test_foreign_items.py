"""Every operator works on any event or fails at once with a clear ``TypeError``.

A raw ``SSEEvent`` (from ``sse_source``) is the usual foreign item: before, ``text()`` silently
emitted nothing for it and ``measure_progress`` crashed with an ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import reactivex
from reactivex import Observable

from streamkit.events import TextDelta
from streamkit.operators import (
    assemble_tool_calls,
    buffer_events,
    buffer_text,
    measure_progress,
    retry_with_backoff,
    smooth,
    text,
    to_message,
)
from streamkit.sse import SSEEvent

RAW = SSEEvent(event="message", data='{"x": 1}', id="1")

CHAT_OPERATORS: dict[str, Callable[[], Callable[[Observable[Any]], Observable[Any]]]] = {
    "text()": text,
    "buffer_text()": lambda: buffer_text(count=1, seconds=None),
    "smooth()": smooth,
    "assemble_tool_calls()": assemble_tool_calls,
    "measure_progress()": measure_progress,
    "to_message()": to_message,
    "retry_with_backoff()": retry_with_backoff,
}


def _run(source: Observable[Any]) -> tuple[list[Any], BaseException | None]:
    items: list[Any] = []
    errors: list[BaseException] = []
    source.subscribe(
        items.append, errors.append, scheduler=reactivex.scheduler.ImmediateScheduler()
    )
    return items, errors[0] if errors else None


@pytest.mark.parametrize("name", CHAT_OPERATORS)
def test_a_raw_sse_event_fails_a_chat_operator_at_once(name: str) -> None:
    source = reactivex.from_iterable([TextDelta("Hi "), RAW]).pipe(
        CHAT_OPERATORS[name](),
    )
    _, error = _run(source)
    assert isinstance(error, TypeError)
    assert name in str(error) and "SSEEvent" in str(error) and "sse_source" in str(error)


@pytest.mark.parametrize("name", CHAT_OPERATORS)
def test_any_foreign_item_fails_a_chat_operator(name: str) -> None:
    _, error = _run(reactivex.from_iterable([{"not": "an event"}]).pipe(CHAT_OPERATORS[name]()))
    assert isinstance(error, TypeError) and "dict" in str(error)


def test_retry_with_backoff_on_raw_sse_points_to_sse_source_reconnection() -> None:
    _, error = _run(reactivex.from_iterable([RAW]).pipe(retry_with_backoff()))
    assert isinstance(error, TypeError) and "Last-Event-ID" in str(error)


def test_text_pieces_still_pass_buffer_text_and_smooth() -> None:
    items, error = _run(reactivex.from_iterable(["a ", "b"]).pipe(smooth()))
    assert error is None and "".join(items) == "a b"
    items, error = _run(
        reactivex.from_iterable(["a", "b"]).pipe(buffer_text(count=2, seconds=None))
    )
    assert error is None and items == ["ab"]


def test_buffer_events_works_on_any_event() -> None:
    items, error = _run(
        reactivex.from_iterable([RAW, RAW]).pipe(buffer_events(count=2, seconds=None))
    )
    assert error is None and items == [[RAW, RAW]]
