"""The batch benchmark runs end to end at a tiny size (no timing asserts)."""

from __future__ import annotations

import pytest

from bench.batch import MODES, measure
from streamkit.server import EmbeddedServer


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_answers_every_row_and_reports_rss(mode: str) -> None:
    with EmbeddedServer().run_in_thread() as server:
        result = measure(mode, 12, 4, server.url)
    assert result["done"] == 12
    assert result["rows_per_s"] > 0 and result["peak_rss_mib"] > 0
