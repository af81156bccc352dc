"""Draw stream statistics with matplotlib: tokens over time and the gaps between chunks.

Presentation only: ``plot_stats`` turns a ``StreamStats`` value into a figure, optionally saved
as PNG. matplotlib is the ``plot`` extra (``pip install 'streamkit-llm[plot]'``) and is imported
only when a figure is drawn, so importing ``streamkit.sinks`` never needs it.
"""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

from streamkit.extras import missing_extra
from streamkit.stats import StreamStats, format_stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_stats"]


@functools.cache
def _displayable_figure(base: type[Figure]) -> type[Figure]:
    """matplotlib's ``Figure`` that also shows itself as a PNG in a notebook cell.

    A figure made with the object API displays only once an IPython backend registered its
    formatter (``%matplotlib inline``); until then a cell shows ``<Figure size ...>``.
    ``_repr_png_`` makes the picture appear whatever the backend, and in no front end does it
    open a window.
    """

    class StatsFigure(base):  # type: ignore[misc,valid-type]
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return StatsFigure


def plot_stats(stats: StreamStats, path: str | None = None) -> Figure:
    """Draw tokens over time and a histogram of the gaps between chunks.

    Uses matplotlib's object API (no ``pyplot``), so no window opens and no global figure is left
    behind; in a notebook cell the returned figure shows itself as a picture, with or without
    ``%matplotlib inline``. The time to first token is a dashed line on the tokens axis, the
    median (p50) and p99 gaps dashed lines on the histogram, each in the legend with its value.
    The title is ``format_stats(stats)``. Empty statistics still draw two (empty) axes.
    ``StreamStats.plot()`` is the same call.

    Example:
        >>> from streamkit.sinks import plot_stats  # doctest: +SKIP
        >>> plot_stats(measure.meter.summary, "stats.png")  # doctest: +SKIP

    Args:
        stats: the statistics to draw (its ``timeline`` and ``latencies``).
        path: when given, the figure is also saved there as PNG.

    Returns:
        The matplotlib ``Figure`` with two axes.

    Raises:
        ImportError: matplotlib is not installed (``pip install 'streamkit-llm[plot]'``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise missing_extra("plot", "plotting needs matplotlib") from exc
    figure = _displayable_figure(Figure)(figsize=(10, 4), layout="constrained")
    tokens_axis, gaps_axis = figure.subplots(1, 2)
    if stats.timeline:
        times, counts = zip(*stats.timeline, strict=True)
        tokens_axis.step(times, counts, where="post", label="tokens")
    if stats.ttft is not None:
        _mark(tokens_axis, stats.ttft, f"TTFT {stats.ttft:.2f} s", "tab:red")
    tokens_axis.set(title="Tokens over time", xlabel="seconds", ylabel="tokens")
    if stats.latencies:
        gaps_axis.hist([gap * 1000 for gap in stats.latencies], bins=min(50, len(stats.latencies)))
    for label, gap, color in (
        ("p50", stats.latency_p50, "tab:green"),
        ("p99", stats.latency_p99, "tab:red"),
    ):
        if gap is not None:
            _mark(gaps_axis, gap * 1000, f"{label} {gap * 1000:.1f} ms", color)
    gaps_axis.set(title="Gap between chunks", xlabel="milliseconds", ylabel="chunks")
    figure.suptitle(format_stats(stats))
    if path is not None:
        figure.savefig(path, format="png")
    return figure


def _mark(axis: Any, x: float, label: str, color: str) -> None:
    """A labelled vertical line, listed in the axis's legend."""
    axis.axvline(x, linestyle="--", linewidth=1.2, color=color, label=label)
    axis.legend(loc="best", fontsize="small")
