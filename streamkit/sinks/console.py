"""Print a stream to the terminal as it arrives.

``await print_stream(events)`` writes the answer's text as it streams (flushing each piece), a
compact line for each complete tool call, and returns the final ``Message``;
``console_observer()`` is the same printing as a plain Rx observer.
"""

from __future__ import annotations

import sys
from typing import TextIO

import orjson
from reactivex import Observable, abc
from reactivex.observer import Observer

from streamkit.errors import truncate
from streamkit.events import Rewind, StreamEvent, TextDelta, ToolCall
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.message import Message
from streamkit.operators.progress import measure_progress
from streamkit.sinks.callback import on_events
from streamkit.stats import format_stats

__all__ = ["console_observer", "format_tool_call", "print_stream"]

#: The most characters of a tool call's arguments shown on its line.
_MAX_ARGUMENTS = 200


def format_tool_call(call: ToolCall) -> str:
    """One line for a complete tool call: ``name({"compact": "json"})``, long arguments cut.

    Invalid arguments are shown as received, marked ``(invalid JSON)``.
    """
    if call.valid:
        arguments = orjson.dumps(call.arguments).decode()
        return f"{call.name}({truncate(arguments, _MAX_ARGUMENTS)})"
    return f"{call.name}({truncate(call.raw_arguments, _MAX_ARGUMENTS)}) (invalid JSON)"


class _ConsoleWriter:
    """Writes the events of one stream to a text file: text as it comes, calls as lines."""

    def __init__(self, file: TextIO | None, choice: int) -> None:
        self._file = file if file is not None else sys.stdout
        self._choice = choice
        self._at_line_start = True

    def write(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta) and event.choice == self._choice and event.text:
            self._emit(event.text)
        elif isinstance(event, ToolCall) and event.choice == self._choice:
            self._emit_line(f"-> {format_tool_call(event)}")
        elif isinstance(event, Rewind):
            self._emit_line("[the answer restarts]")

    def write_error(self, error: Exception) -> None:
        self._emit_line(f"[error] {type(error).__name__}: {error}")

    def end(self) -> None:
        """End the last line, if it is open."""
        if not self._at_line_start:
            self._emit("\n")

    def _emit_line(self, line: str) -> None:
        self.end()
        self._emit(line + "\n")

    def _emit(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        self._at_line_start = text.endswith("\n")


async def print_stream(
    source: Observable[StreamEvent],
    *,
    file: TextIO | None = None,
    footer: bool = False,
    footer_file: TextIO | None = None,
    choice: int = 0,
    invalid: InvalidArguments = "raise",
) -> Message:
    """Print the stream's text as it arrives, and each tool call once complete; return the message.

    Text is written and flushed piece by piece, so the answer appears as it streams. A tool call
    becomes a line ``-> name({...})`` (see ``format_tool_call``) when complete; a ``Rewind`` (a
    restarted answer) a line ``[the answer restarts]``, since a terminal cannot take text back.
    The output ends with a newline. With ``footer``, a line of statistics (``format_stats``:
    tokens, time to first token, rate, duration, finish reason) follows on ``footer_file``, also
    when the stream failed. Cancelling the await disposes the subscription.

    Args:
        source: the stream's events.
        file: where to print; ``sys.stdout`` (looked up at call time) by default.
        footer: print the statistics line at the end.
        footer_file: where the statistics go; ``sys.stderr`` by default, so they stay out of
            a redirected answer.
        choice: which choice to print (OpenAI ``n > 1``).
        invalid: ``raise`` or ``emit`` for tool calls with invalid JSON, as for ``on_events``.

    Returns:
        The final message.

    Raises:
        Exception: the error the stream ended with, after the text printed so far and a newline.

    Example:
        >>> message = await sk.print_stream(sk.stream_chat(url, body))  # doctest: +SKIP
    """
    writer = _ConsoleWriter(file, choice)
    measure = measure_progress()
    if footer:
        source = source.pipe(measure)
    handle = on_events(source, on_event=writer.write, choice=choice, invalid=invalid)
    try:
        return await handle.wait()
    finally:
        handle.dispose()
        writer.end()
        if footer:
            stats = measure.meter.summary or measure.meter.snapshot()
            print(format_stats(stats), file=footer_file or sys.stderr, flush=True)


def console_observer(
    file: TextIO | None = None, *, choice: int = 0
) -> abc.ObserverBase[StreamEvent]:
    """An observer that prints a stream: text as it comes, tool calls and errors as lines.

    It prints the ``ToolCall`` values the stream carries; pipe through ``assemble_tool_calls``
    first to see calls streamed as fragments. An error is printed as ``[error] Type: message``
    and goes no further.

    Args:
        file: where to print; ``sys.stdout`` (looked up when the observer is made) by default.
        choice: which choice to print.

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> events.subscribe(sinks.console_observer())  # doctest: +SKIP
    """
    writer = _ConsoleWriter(file, choice)

    def on_error(error: Exception) -> None:
        writer.write_error(error)

    return Observer(writer.write, on_error, writer.end)
