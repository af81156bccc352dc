"""Plotting stream statistics: a PNG with two axes, and a clear message without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streamkit.events import TextDelta
from streamkit.fold.stats import StatsAccumulator
from streamkit.sinks.plot import plot_stats
from streamkit.stats import StreamStats


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    acc = StatsAccumulator(started_at=0.0)
    for i in range(1, 60):
        acc.step(TextDelta("word "), i * 0.05 + (0.2 if i % 7 == 0 else 0.0))
    acc.end(3.5)
    path = tmp_path / "stats.png"
    figure = acc.stats(3.5).plot(str(path))
    data = path.read_bytes()
    assert data[:4] == b"\x89PNG"
    assert len(data) > 1000
    assert len(figure.axes) == 2
    assert figure.axes[0].get_title() == "Tokens over time"


def test_plot_of_empty_stats_still_draws() -> None:
    pytest.importorskip("matplotlib")
    figure = StreamStats().plot()
    assert len(figure.axes) == 2
    assert figure.get_suptitle() == "0 tokens · 0.0 s"
    assert len(figure.axes[1].patches) == 0  # no gaps: an empty histogram


def test_plot_without_matplotlib_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'streamkit-llm\[plot\]'"):
        StreamStats().plot()


def test_plot_stats_is_what_stream_stats_plot_draws() -> None:
    pytest.importorskip("matplotlib")
    stats = StreamStats(tokens=3, elapsed=1.0, timeline=((0.5, 1), (1.0, 3)), latencies=(0.5,))
    by_method, by_sink = stats.plot(), plot_stats(stats)
    assert by_method.get_suptitle() == by_sink.get_suptitle() == "3 tokens · 1.0 s"
    assert [a.get_title() for a in by_method.axes] == [a.get_title() for a in by_sink.axes]


def test_the_plot_marks_ttft_and_the_p50_and_p99_gaps() -> None:
    pytest.importorskip("matplotlib")
    stats = StreamStats(
        tokens=3,
        ttft=0.25,
        elapsed=1.0,
        timeline=((0.25, 1), (0.5, 2), (1.0, 3)),
        latencies=(0.25, 0.5),
        latency_p50=0.25,
        latency_p99=0.5,
    )
    figure = plot_stats(stats)

    tokens_axis, gaps_axis = figure.axes
    legend = [text.get_text() for text in tokens_axis.get_legend().get_texts()]
    assert "TTFT 0.25 s" in legend
    legend = [text.get_text() for text in gaps_axis.get_legend().get_texts()]
    assert legend == ["p50 250.0 ms", "p99 500.0 ms"]


def test_the_figure_shows_itself_as_a_png_in_a_notebook_cell() -> None:
    pytest.importorskip("matplotlib")
    png = StreamStats(tokens=1, elapsed=1.0).plot()._repr_png_()  # type: ignore[attr-defined]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
