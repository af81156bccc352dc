"""Sinks: where a stream's events end up.

- ``print_stream`` / ``console_observer``: the terminal.
- ``on_events``: plain callbacks, for code that does not speak Rx.
- ``collect_message``: the final assembled ``Message``, awaited.
- ``to_jsonl`` / ``append_jsonl`` / ``read_jsonl``: JSON Lines files, crash-safe.
- ``live_view``: a live Markdown view in a Jupyter cell.
- ``plot_stats``: a stream's statistics drawn with matplotlib (the ``plot`` extra).
- ``gather_streams``: many streams, bounded, results in order; ``progress_bar`` / ``track``:
  a tqdm bar that counts streams.

Recording raw bytes for replay lives in ``streamkit.record``.
"""

from __future__ import annotations

from streamkit.sinks.callback import StreamHandle, on_events
from streamkit.sinks.collect import collect_message
from streamkit.sinks.console import (
    ConsoleWriter,
    console_observer,
    format_tool_call,
    print_stream,
)
from streamkit.sinks.gather import gather_streams
from streamkit.sinks.jsonl import (
    JSONLError,
    RecordedError,
    append_jsonl,
    event_from_dict,
    event_to_dict,
    message_from_dict,
    message_to_dict,
    read_events,
    read_jsonl,
    to_jsonl,
)
from streamkit.sinks.notebook import DisplayHandle, live_view, render_markdown
from streamkit.sinks.plot import plot_stats
from streamkit.sinks.progress_bar import ProgressBar, progress_bar, track

__all__ = [
    "ConsoleWriter",
    "DisplayHandle",
    "JSONLError",
    "ProgressBar",
    "RecordedError",
    "StreamHandle",
    "append_jsonl",
    "collect_message",
    "console_observer",
    "event_from_dict",
    "event_to_dict",
    "format_tool_call",
    "gather_streams",
    "live_view",
    "message_from_dict",
    "message_to_dict",
    "on_events",
    "plot_stats",
    "print_stream",
    "progress_bar",
    "read_events",
    "read_jsonl",
    "render_markdown",
    "to_jsonl",
    "track",
]
