"""Draw stream statistics with matplotlib: tokens over time and the gaps between chunks.

Presentation only: ``plot_stats`` turns a ``StreamStats`` value into a figure, optionally saved
as PNG. matplotlib is the ``plot`` extra (``pip install streamkit[plot]``) and is imported only
when a figure is drawn, so importing ``streamkit.sinks`` never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamkit.stats import StreamStats, format_stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_stats"]


def plot_stats(stats: StreamStats, path: str | None = None) -> Figure:
    """Draw tokens over time and a histogram of the gaps between chunks.

    Uses matplotlib's object API (no ``pyplot``), so no window opens and no global figure is left
    behind; in a notebook, the returned figure displays itself. The title is
    ``format_stats(stats)``. Empty statistics still draw two (empty) axes.
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
        ImportError: matplotlib is not installed (``pip install streamkit[plot]``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install streamkit[plot]") from exc
    figure = Figure(figsize=(10, 4), layout="constrained")
    tokens_axis, gaps_axis = figure.subplots(1, 2)
    if stats.timeline:
        times, counts = zip(*stats.timeline, strict=True)
        tokens_axis.step(times, counts, where="post")
    tokens_axis.set(title="Tokens over time", xlabel="seconds", ylabel="tokens")
    if stats.latencies:
        gaps_axis.hist([gap * 1000 for gap in stats.latencies], bins=min(50, len(stats.latencies)))
    gaps_axis.set(title="Gap between chunks", xlabel="milliseconds", ylabel="chunks")
    figure.suptitle(format_stats(stats))
    if path is not None:
        figure.savefig(path, format="png")
    return figure
