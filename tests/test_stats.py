"""Stream statistics values: the token estimate and the one-line summary."""

from __future__ import annotations

from streamkit.stats import StreamStats, estimate_tokens, format_stats


def test_estimate_tokens() -> None:
    assert [estimate_tokens(s) for s in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_format_stats_one_line() -> None:
    stats = StreamStats(
        tokens=142, ttft=0.21, tokens_per_second=78.34, elapsed=1.84, finish_reason="stop"
    )
    assert format_stats(stats) == "142 tokens · TTFT 0.21 s · 78.3 tok/s · 1.8 s · stop"
    assert format_stats(StreamStats(elapsed=0.5, retries=2)) == "0 tokens · 0.5 s · 2 retries"
