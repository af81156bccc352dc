"""A live view of a stream in a Jupyter output cell.

``await live_view(events)`` shows the answer as Markdown in the cell and rewrites it as the
stream goes, batch by batch (``buffer_events``), not once per chunk, which a notebook front end
could not keep up with; a line of statistics (``format_stats``) follows, and each tool call is
listed once complete. It returns the final ``Message``.

IPython is imported only when the view is shown (``pip install streamkit[jupyter]``); tests and
other front ends pass their own ``display`` function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from reactivex import Observable, abc

from streamkit.bridge import aiter_events
from streamkit.events import StreamEvent
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.message import Message
from streamkit.operators.buffer import buffer_events
from streamkit.operators.progress import measure_progress
from streamkit.sinks.console import format_tool_call
from streamkit.stats import format_stats

__all__ = ["Display", "DisplayHandle", "live_view", "render_markdown"]


class DisplayHandle(Protocol):
    """A shown output that can be replaced (IPython's ``DisplayHandle``, adapted)."""

    def update(self, markdown: str) -> None:
        """Show ``markdown`` in place of what is shown."""
        ...


#: Shows Markdown in a new output and returns the handle that replaces it.
Display = Callable[[str], DisplayHandle]


def render_markdown(message: Message, *, stats: str | None = None, choice: int = 0) -> str:
    """The Markdown for a message (complete or so far): its text, its tool calls, a stats line.

    The text is shown as it is; each tool call becomes a line ``` `name({...})` ```; ``stats``,
    when given, comes last, in italics below a rule. With no calls and no stats the Markdown is
    exactly the text.
    """
    found = next((c for c in message.choices if c.index == choice), None)
    parts = [found.text] if found is not None and found.text else []
    if found is not None and found.tool_calls:
        parts.append("\n".join(f"- `{format_tool_call(call)}`" for call in found.tool_calls))
    if stats:
        parts.append(f"---\n*{stats}*")
    return "\n\n".join(parts)


class _IPythonHandle:
    def __init__(self, ipython: Any, markdown: str) -> None:
        self._ipython = ipython
        # Outside an IPython shell there is no handle: each update is shown anew.
        self._handle = ipython.display(ipython.Markdown(markdown), display_id=True)

    def update(self, markdown: str) -> None:
        if self._handle is None:
            self._ipython.display(self._ipython.Markdown(markdown))
        else:
            self._handle.update(self._ipython.Markdown(markdown))


def _ipython_display() -> Display:
    try:
        ipython = importlib.import_module("IPython.display")
    except ImportError as exc:
        raise ImportError(
            "live_view needs IPython to show output: pip install streamkit[jupyter]"
        ) from exc

    def show(markdown: str) -> DisplayHandle:
        return _IPythonHandle(ipython, markdown)

    return show


async def live_view(
    source: Observable[StreamEvent],
    *,
    count: int = 10,
    seconds: float | None = 0.1,
    stats: bool = True,
    choice: int = 0,
    invalid: InvalidArguments = "raise",
    display: Display | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Message:
    """Show the stream in the notebook cell as it arrives; return the final message.

    The output is created at once (empty) and replaced after each batch of ``count`` events or
    ``seconds`` of waiting (see ``buffer_events``), only when its Markdown changed: the text so
    far, the tool calls completed so far, and, with ``stats``, the live statistics. A ``Rewind``
    clears the text shown, as the answer restarts. On error the output ends with the error, and
    the error is raised. Cancelling the await disposes the subscription.

    Args:
        source: the stream's events.
        count: events per update at most.
        seconds: how long an event may wait for its update; None waits only for ``count``.
        stats: show the statistics line (``format_stats``).
        choice: which choice to show.
        invalid: ``raise`` or ``emit`` for tool calls with invalid JSON, as for ``to_message``.
        display: shows Markdown and returns a handle to replace it; IPython's by default.
        scheduler: where the batching is timed (else the running asyncio loop's).

    Returns:
        The final message.

    Raises:
        ImportError: ``display`` is None and IPython is not installed.
        ValueError: ``count`` is below 1 or ``seconds`` is not positive.
        Exception: the error the stream ended with.

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> message = await sinks.live_view(sk.stream_chat(url, body))  # doctest: +SKIP
    """
    show = display if display is not None else _ipython_display()
    batches = buffer_events(count, seconds, scheduler=scheduler)
    measure = measure_progress()
    builder = MessageBuilder(invalid=invalid)
    shown = ""
    handle = show(shown)

    def render(message: Message, error: Exception | None = None) -> None:
        nonlocal shown
        line = format_stats(measure.meter.snapshot()) if stats else None
        markdown = render_markdown(message, stats=line, choice=choice)
        if error is not None:
            markdown += f"\n\n**{type(error).__name__}:** {error}"
        if markdown != shown:
            handle.update(markdown)
            shown = markdown

    events = source.pipe(measure, batches) if stats else source.pipe(batches)
    try:
        async with aiter_events(events) as batch_stream:
            async for batch in batch_stream:
                for event in batch:
                    builder = accumulate(builder, event)
                render(builder.message)
        message = builder.build()
    except Exception as exc:
        render(builder.message, exc)
        raise
    render(message)
    return message
