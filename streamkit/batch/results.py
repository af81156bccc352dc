"""What a batch gives back: one ``RowResult`` per row, a ``BatchSummary`` for the run.

Also the pure pieces around them: the store record of a row, the cost of a usage under the
caller's prices, and the summary line the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streamkit.errors import APIStatusError, RetryExhaustedError
from streamkit.json_codec import message_from_dict
from streamkit.message import Message

__all__ = [
    "BatchSummary",
    "Budget",
    "Price",
    "RowResult",
    "RowStatus",
    "error_record",
    "format_summary",
]

RowStatus = Literal["done", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs, per million input and output tokens, in the caller's currency."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost of that many tokens."""
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True, slots=True)
class Budget:
    """When to stop starting rows: past a token total, or past a cost.

    Rows already running finish (their tokens count); rows not yet started are left for a
    re-run, which skips what was done.

    Attributes:
        tokens: input plus output tokens of the whole run.
        cost: the run's cost under ``prices``.
        prices: the price of each model (the request body's ``model``); a model without a price
            costs nothing, so give one for each model a costed run uses.
    """

    tokens: int | None = None
    cost: float | None = None
    prices: Mapping[str, Price] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cost is not None and not self.prices:
            raise ValueError("a cost budget needs prices=, per model")


@dataclass(frozen=True, slots=True)
class RowResult:
    """The outcome of one row.

    Attributes:
        index: the row's position in this run's input.
        key: the row's key.
        status: ``done``, ``failed``, or ``skipped`` (done by an earlier run).
        record: the row's store record (see ``streamkit.batch.store``).
        row: the input row (``None`` for rows read back from a store).
        error: the failure, for a ``failed`` row of this run.
        value: the validated structured output, when the batch asked for one.
    """

    index: int
    key: str
    status: RowStatus
    record: Mapping[str, Any] = field(repr=False)
    row: object = field(default=None, repr=False)
    error: BaseException | None = None
    value: Any = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The answer's text (choice 0), "" for a failed row."""
        text = self.record.get("text")
        return text if isinstance(text, str) else ""

    @property
    def message(self) -> Message | None:
        """The final message, rebuilt from the record; None for a failed row."""
        stored = self.record.get("message")
        return message_from_dict(stored) if isinstance(stored, Mapping) else None

    @property
    def ok(self) -> bool:
        """True for a done or skipped row."""
        return self.status != "failed"


@dataclass(slots=True)
class BatchSummary:
    """Counts and totals of a run, updated live as rows finish.

    Attributes:
        done: rows answered in this run.
        skipped: rows an earlier run had answered.
        failed: rows that failed after their retries.
        input_tokens, output_tokens: tokens paid for in this run (every attempt).
        cost: the run's cost under the budget's prices.
        retries: attempts beyond each row's first.
        elapsed: seconds since the run started.
        paused: seconds the run was paused by rate limits.
        paused_for: seconds the current pause still lasts.
        stopped: why the run stopped starting rows early (``"budget"``, ``"failure"``), or None.
        in_flight: rows running now.
    """

    done: int = 0
    skipped: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    retries: int = 0
    elapsed: float = 0.0
    paused: float = 0.0
    paused_for: float = 0.0
    stopped: str | None = None
    in_flight: int = 0

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @property
    def finished(self) -> int:
        """Rows done, skipped or failed."""
        return self.done + self.skipped + self.failed


def format_summary(summary: BatchSummary) -> str:
    """The run's last line: ``N done · N skipped · N failed · N tokens · ...``."""
    parts = [
        f"{summary.done} done",
        f"{summary.skipped} skipped",
        f"{summary.failed} failed",
        f"{summary.tokens} tokens",
    ]
    if summary.cost:
        parts.append(f"cost {summary.cost:.4f}")
    rate = summary.done / summary.elapsed if summary.elapsed > 0 else 0.0
    parts.append(f"{rate:.1f} rows/s")
    if summary.paused:
        parts.append(f"paused {summary.paused:.1f} s")
    parts.append(f"{summary.elapsed:.1f} s")
    if summary.stopped:
        parts.append(f"stopped: {summary.stopped}")
    return " · ".join(parts)


def error_record(error: BaseException) -> dict[str, Any]:
    """A JSON-ready description of a failure: type, message, and the facts callers branch on."""
    last = error.causes[-1] if isinstance(error, RetryExhaustedError) and error.causes else error
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(last, APIStatusError):
        record["status"] = last.status
    if isinstance(error, RetryExhaustedError):
        record["attempts"] = len(error.causes)
        record["last"] = type(last).__name__
    return record
