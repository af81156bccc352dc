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
    with pytest.raises(ImportError, match=r"pip install streamkit\[plot\]"):
        StreamStats().plot()


def test_plot_stats_is_what_stream_stats_plot_draws() -> None:
    pytest.importorskip("matplotlib")
    stats = StreamStats(tokens=3, elapsed=1.0, timeline=((0.5, 1), (1.0, 3)), latencies=(0.5,))
    by_method, by_sink = stats.plot(), plot_stats(stats)
    assert by_method.get_suptitle() == by_sink.get_suptitle() == "3 tokens · 1.0 s"
    assert [a.get_title() for a in by_method.axes] == [a.get_title() for a in by_sink.axes]
