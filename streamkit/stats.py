"""Stream statistics as values: ``StreamStats``, its one-line ``format_stats``, token estimates.

A ``StreamStats`` is what is known about a stream at one moment. It is computed by the reducer
``streamkit.fold.stats.StatsAccumulator``, which ``streamkit.operators.measure_progress`` drives
live, and drawn by ``streamkit.sinks.plot.plot_stats``. This module only defines the values and
what each number means.

Definitions (all times in seconds, relative to the subscription):

- a *chunk* is an event that carries generated content: a non-empty ``TextDelta``,
  ``RefusalDelta``, thinking ``ReasoningDelta`` or ``ToolCallDelta`` (its name and arguments);
  reasoning signatures and redacted blocks are not generated text and are not counted;
- ``ttft``: from the subscription to the first chunk;
- ``tokens``: the estimate (``ceil(characters / 4)``, the usual rule of thumb for English with
  BPE tokenizers) or the sum of an injected ``tokenizer`` over the chunks; once the server reports
  ``Usage.output_tokens`` that number replaces the count, and chunks after the report add to it
  (Anthropic reports a provisional count when the message starts and the final one at the end).
  After a retry that continues the partial answer (``Retrying.continued``, ``resume="continue"``)
  the server's count covers only the continuation, so the tokens counted up to the retry are kept
  and the continuation's add to them; after a restart (``Retrying.continued`` False) the new
  attempt's report covers the whole answer again, so whatever an earlier continued retry kept is
  dropped: until that report the count is the estimate of every chunk received, and the report
  replaces it;
- ``tokens_per_second``: ``tokens / (elapsed - ttft)``, the generation rate once the first chunk
  arrived, so connection set-up and prompt processing do not dilute it; None before two distinct
  instants are known;
- latencies: the gaps between consecutive chunks, percentiles by the nearest-rank method (the
  smallest gap with at least p % of the gaps at or below it). The gaps are kept in full up to
  ``max_gaps``; beyond that a uniform reservoir sample of that size (seeded, so reruns agree)
  stands for them; ``latency_max`` is always exact;
- everything received counts: a ``Rewind`` does not take back the chunks before it;
- ``elapsed``: from the subscription to the end of the stream (or to now), but never less than
  to the latest event's ``received_at``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from streamkit.events import FinishReason

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "StreamStats",
    "Tokenizer",
    "TokensSource",
    "estimate_tokens",
    "format_stats",
]

#: Counts the tokens in a piece of text (for instance ``lambda s: len(enc.encode(s))``).
Tokenizer: TypeAlias = Callable[[str], int]
#: Where ``StreamStats.tokens`` comes from.
TokensSource = Literal["estimate", "tokenizer", "usage"]


def estimate_tokens(text: str) -> int:
    """Estimate the tokens in ``text`` as one per four characters, rounded up."""
    return math.ceil(len(text) / 4)


@dataclass(frozen=True, slots=True)
class StreamStats:
    """What is known about a stream at one moment; see the module docstring for definitions.

    Attributes:
        chunks: content-carrying events received.
        characters: characters of content received.
        tokens: output tokens (estimated, counted, or reported by the server), of every attempt
            a continued retry kept (see the module docstring).
        tokens_source: ``estimate``, ``tokenizer`` or ``usage`` (the last report is final, and
            no tokens before a continued retry were estimated).
        input_tokens: prompt tokens, when the server reported them.
        ttft: seconds to the first chunk; None before it.
        elapsed: seconds since the subscription (to the end, once ended).
        tokens_per_second: the generation rate after the first chunk; None when undefined.
        latency_p50: median gap between chunks (nearest rank); None with no gap.
        latency_p95: 95th percentile gap.
        latency_p99: 99th percentile gap.
        latency_max: the longest gap.
        bytes_received: bytes read from the network (the events' ``wire_bytes``).
        retries: ``Retrying`` events seen.
        finished: the stream completed (not failed, not cancelled).
        finish_reason: the last ``Finish`` reason seen.
        timeline: ``(seconds, cumulative tokens)`` points, at most the reducer's ``max_points``
            (decimated evenly when longer), scaled to the server's count once it reports one.
        latencies: the inter-chunk gaps kept for the percentiles (see the module docstring).
    """

    chunks: int = 0
    characters: int = 0
    tokens: int = 0
    tokens_source: TokensSource = "estimate"
    input_tokens: int | None = None
    ttft: float | None = None
    elapsed: float = 0.0
    tokens_per_second: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    latency_max: float | None = None
    bytes_received: int = 0
    retries: int = 0
    finished: bool = False
    finish_reason: FinishReason | None = None
    timeline: tuple[tuple[float, int], ...] = field(default=(), repr=False)
    latencies: tuple[float, ...] = field(default=(), repr=False)

    def plot(self, path: str | None = None) -> Figure:
        """Draw tokens over time and a histogram of the gaps between chunks.

        A convenience for ``streamkit.sinks.plot.plot_stats(self, path)``, which documents the
        figure; drawing is presentation and lives with the sinks.

        Args:
            path: when given, the figure is also saved there as PNG.

        Returns:
            The matplotlib ``Figure`` with two axes.

        Raises:
            ImportError: matplotlib is not installed (``pip install streamkit[plot]``).
        """
        # Deferred, and the one import of a higher layer here: the sink owns the drawing.
        from streamkit.sinks.plot import plot_stats

        return plot_stats(self, path)


def format_stats(stats: StreamStats) -> str:
    """One line for people: ``142 tokens · TTFT 0.21 s · 78.3 tok/s · 1.8 s · stop``.

    Parts that are unknown (no first token yet, no rate, no finish) are left out; retries are
    added when there were any.
    """
    parts = [f"{stats.tokens} tokens"]
    if stats.ttft is not None:
        parts.append(f"TTFT {stats.ttft:.2f} s")
    if stats.tokens_per_second is not None:
        parts.append(f"{stats.tokens_per_second:.1f} tok/s")
    parts.append(f"{stats.elapsed:.1f} s")
    if stats.retries:
        parts.append(f"{stats.retries} retr{'y' if stats.retries == 1 else 'ies'}")
    if stats.finish_reason is not None:
        parts.append(stats.finish_reason)
    return " · ".join(parts)
