"""Progress of a batch run, as text: the live terminal line and the plain log line.

Pure formatting of a ``BatchSummary``; the CLI decides when to draw.
"""

from __future__ import annotations

from streamkit.batch.results import BatchSummary

__all__ = ["format_progress"]


def format_progress(summary: BatchSummary, total: int | None) -> str:
    """One line: rows finished (of ``total``), done/skipped/failed, tokens/s, ETA, any pause.

    Example: ``120/2000 rows · 118 done · 0 skipped · 2 failed · 1480 tok/s · ETA 41 s``.
    """
    finished = summary.finished
    head = f"{finished}/{total} rows" if total is not None else f"{finished} rows"
    parts = [
        head,
        f"{summary.done} done",
        f"{summary.skipped} skipped",
        f"{summary.failed} failed",
    ]
    elapsed = summary.elapsed
    if elapsed > 0:
        parts.append(f"{summary.output_tokens / elapsed:.0f} tok/s")
    asked = summary.done + summary.failed
    left = total - finished if total is not None else None
    if left is not None and asked and elapsed > 0:
        parts.append(f"ETA {_duration(left * elapsed / max(finished, 1))}")
    if summary.paused_for > 0:
        parts.append(f"paused {summary.paused_for:.1f} s (rate limit)")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
