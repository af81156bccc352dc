"""A progress bar that counts streams: ``progress_bar`` makes one, ``track`` advances it.

``streamkit.sinks.gather`` uses both for many streams at once; they are here for pipelines of
your own.

tqdm is imported only when a bar is made (``pip install 'streamkit-llm[progress]'``). The bar is
tqdm's text bar by default: it moves in a terminal and in every notebook front end (Jupyter
redraws a line ending in a carriage return), where a widget shows only as ``HBox(...)`` text in
a front end without widget support. ``widget=True`` asks for ``tqdm.auto``'s notebook widget.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, TextIO

import reactivex.operators as rx_ops

from streamkit.events import StreamEvent
from streamkit.extras import missing_extra
from streamkit.operators.base import Operator

__all__ = ["ProgressBar", "progress_bar", "track"]


class ProgressBar(Protocol):
    """What ``track`` and ``gather_streams`` need of a bar (a ``tqdm`` has it)."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def close(self) -> None: ...


def progress_bar(
    total: int | None = None,
    *,
    desc: str | None = None,
    file: TextIO | None = None,
    widget: bool = False,
    **options: Any,
) -> Any:
    """A ``tqdm`` bar counting streams: a text bar that moves anywhere, or a notebook widget.

    Args:
        total: how many streams there are.
        desc: the bar's label.
        file: where a text bar is drawn (``sys.stderr`` by default).
        widget: use ``tqdm.auto`` (the widget in Jupyter, which needs a front end that renders
            widgets; the text bar elsewhere).
        options: passed on to ``tqdm``.

    Returns:
        The ``tqdm`` bar; close it when done (or use it in ``with``).

    Raises:
        ImportError: tqdm is not installed.
    """
    try:
        module = importlib.import_module("tqdm.auto" if widget else "tqdm.std")
    except ImportError as exc:
        raise missing_extra("progress", "progress bars need tqdm") from exc
    return module.tqdm(total=total, desc=desc, file=file, unit="stream", **options)


def track(bar: ProgressBar) -> Operator[StreamEvent, StreamEvent]:
    """Advance ``bar`` by one when the stream completes; events pass on unchanged.

    A failed or disposed stream does not advance the bar.

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> events.pipe(sinks.track(bar))  # doctest: +SKIP
    """

    def advance() -> None:
        bar.update(1)

    return rx_ops.do_action(on_completed=advance)
