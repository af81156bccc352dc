"""A live status line on a terminal, drawn with rich: tokens, tok/s, elapsed, retries.

The ``cli`` extra (``pip install 'streamkit-llm[cli]'``); rich is imported only here, and only
when a status line is actually shown. ``StatusLine.open(...)`` returns None when the status
file is not a terminal (a pipe, a file, CI) or rich is missing, so nothing of it ever reaches
a log or a redirected stream.

The answer and the status line never share a stream. When the answer goes elsewhere (a pipe,
a file), it is written there untouched and the status line lives on its own terminal. When both
are the same terminal, the status line's console also draws the answer: finished lines are
printed above the status line, the line being written is shown just above it, so neither ever
overwrites the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from streamkit.stats import StreamStats

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

__all__ = ["StatusLine", "format_status"]

#: Redraws per second at most; a terminal needs no more to look live.
_REDRAWS_PER_SECOND = 8


def format_status(stats: StreamStats, *, retries: int = 0) -> str:
    """The status line's text: ``streaming… 42 tokens · 61 tok/s · 1.2 s · 1 retry``."""
    parts = [f"streaming… {stats.tokens} tokens"]
    if stats.tokens_per_second is not None:
        parts.append(f"{stats.tokens_per_second:.0f} tok/s")
    parts.append(f"{stats.elapsed:.1f} s")
    if retries:
        parts.append(f"{retries} retr{'y' if retries == 1 else 'ies'}")
    return " · ".join(parts)


def _same_terminal(first: TextIO, second: TextIO) -> bool:
    try:
        return first.isatty() and os.path.samestat(
            os.fstat(first.fileno()), os.fstat(second.fileno())
        )
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


class _AnswerOnConsole(io.TextIOBase):
    """The answer's file when it shares the status line's terminal: complete lines are
    printed above the status line, the unfinished one is kept for the live region."""

    def __init__(self, status: StatusLine) -> None:
        self._status = status
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self._status.print_line(line)
        self._status.tick()
        return len(text)

    def flush(self) -> None:
        pass


class StatusLine:
    """A status line at the bottom of a terminal; see the module docstring.

    Use ``StatusLine.open`` to make one (or learn that none should be shown), write the answer
    to ``answer``, call ``notice`` for lines of their own (retries), ``refresh`` when something
    changed and ``close`` at the end (idempotent), which removes the status line.
    """

    def __init__(
        self,
        console: Console,
        live_class: type[Live],
        text_class: Any,
        group_class: Any,
        stats: Callable[[], StreamStats],
        answer: TextIO,
        shared: bool,
    ) -> None:
        self._console = console
        self._text = text_class
        self._group = group_class
        self._stats = stats
        self.retries = 0
        self._shared = shared
        self._pending: _AnswerOnConsole | None = _AnswerOnConsole(self) if shared else None
        #: Where to write the answer.
        self.answer: TextIO = self._pending if self._pending is not None else answer  # type: ignore[assignment]
        self._raw_answer = answer
        self._live = live_class(
            get_renderable=self._render,
            console=console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="visible",
        )
        self._closed = False
        self._last_redraw = 0.0
        self._live.start(refresh=True)
        # The elapsed time moves on while the stream stalls, so redraw on a timer too; a
        # task on the running loop (when there is one) keeps every redraw on one thread.
        self._ticker: asyncio.Task[None] | None = None
        with contextlib.suppress(RuntimeError):
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(1 / _REDRAWS_PER_SECOND)
            self.refresh()

    @classmethod
    def open(
        cls, status_file: TextIO, answer: TextIO, stats: Callable[[], StreamStats]
    ) -> StatusLine | None:
        """A status line on ``status_file`` if it is a terminal and rich is installed, else None.

        Args:
            status_file: where the status line goes (stderr).
            answer: where the answer goes (stdout).
            stats: the statistics to show, read at each refresh.
        """
        try:
            if not status_file.isatty():
                return None
        except (ValueError, AttributeError):
            return None
        try:
            from rich.console import Console, Group
            from rich.live import Live
            from rich.text import Text
        except ImportError:
            return None
        console = Console(file=status_file, highlight=False)
        return cls(console, Live, Text, Group, stats, answer, _same_terminal(answer, status_file))

    def _render(self) -> Any:
        status = self._text(format_status(self._stats(), retries=self.retries), style="dim")
        if self._pending is not None and self._pending.pending:
            return self._group(self._text(self._pending.pending), status)
        return status

    def print_line(self, line: str) -> None:
        """Print ``line`` above the status line."""
        self._console.print(self._text(line))

    def notice(self, line: str) -> None:
        """A line of its own above the status line (a retry notice, for instance)."""
        self.print_line(line)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the status line now."""
        if not self._closed:
            self._last_redraw = time.monotonic()
            self._live.refresh()

    def tick(self) -> None:
        """Something changed: redraw, unless the last redraw was very recent."""
        if time.monotonic() - self._last_redraw >= 1 / _REDRAWS_PER_SECOND:
            self.refresh()

    def close(self) -> None:
        """Remove the status line; the unfinished answer line stays on screen. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
        self._live.stop()
        if self._pending is not None and self._pending.pending:
            self._console.file.write(self._pending.pending)
            self._console.file.flush()
            self._pending.pending = ""
