"""A live view of a stream in a Jupyter output cell.

``await live_view(events)`` shows the answer as Markdown in the cell and rewrites it as the
stream goes, batch by batch (``buffer_events``), not once per chunk, which a notebook front end
could not keep up with; a line of statistics (``format_stats``) follows, and each tool call is
listed once complete. It returns the final ``Message``.

While the answer streams, the view ends with a *streaming…* marker, which goes when it is done.
Outside a Jupyter kernel (a plain ``python`` or an IPython terminal) there is no cell to update:
the view falls back to ``print_stream``, the answer as plain text on stdout.

IPython is used only inside a kernel (the ``jupyter`` extra, ``pip install
'streamkit-llm[jupyter]'``), never imported by this module; tests and other front ends pass
their own ``display`` function.
"""

from __future__ import annotations

import importlib
import sys
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
from streamkit.sinks.console import format_tool_call, print_stream
from streamkit.stats import format_stats

__all__ = ["STREAMING_MARKER", "Display", "DisplayHandle", "live_view", "render_markdown"]

#: Ends the Markdown shown while the answer is still streaming.
STREAMING_MARKER = "*streaming…*"


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


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's shell with a kernel attached).

    Looked up in ``sys.modules``: a kernel has IPython imported already, and a plain script
    should not pay for importing it.
    """
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _ipython_display() -> Display:
    ipython = importlib.import_module("IPython.display")

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
    far, the tool calls completed so far, and, with ``stats``, the live statistics, then
    ``STREAMING_MARKER`` until the stream ended. A ``Rewind`` clears the text shown, as the
    answer restarts. On error the output ends with the error, and the error is raised.
    Cancelling the await disposes the subscription.

    Outside a Jupyter kernel, and with no ``display`` given, the stream is printed as plain text
    instead (``print_stream``, with the statistics line on stderr when ``stats``).

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
        ValueError: ``count`` is below 1 or ``seconds`` is not positive.
        Exception: the error the stream ended with.

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> message = await sinks.live_view(sk.stream_chat(url, body))  # doctest: +SKIP
    """
    if display is None and not _in_notebook():
        return await print_stream(source, footer=stats, choice=choice, invalid=invalid)
    show = display if display is not None else _ipython_display()
    batches = buffer_events(count, seconds, scheduler=scheduler)
    measure = measure_progress()
    builder = MessageBuilder(invalid=invalid)
    shown = STREAMING_MARKER
    handle = show(shown)

    def render(message: Message, error: Exception | None = None, *, done: bool = True) -> None:
        nonlocal shown
        line = format_stats(measure.meter.snapshot()) if stats else None
        markdown = render_markdown(message, stats=line, choice=choice)
        if error is not None:
            markdown += f"\n\n**{type(error).__name__}:** {error}"
        elif not done:
            markdown = f"{markdown}\n\n{STREAMING_MARKER}" if markdown else STREAMING_MARKER
        if markdown != shown:
            handle.update(markdown)
            shown = markdown

    events = source.pipe(measure, batches) if stats else source.pipe(batches)
    try:
        async with aiter_events(events) as batch_stream:
            async for batch in batch_stream:
                for event in batch:
                    builder = accumulate(builder, event)
                render(builder.message, done=False)
        message = builder.build()
    except Exception as exc:
        render(builder.message, exc)
        raise
    render(message)
    return message
