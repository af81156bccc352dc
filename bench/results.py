"""What a benchmark returns: tables of labelled measurements, rendered as markdown or JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RATIO_MARK", "Row", "Table", "format_value", "ratio", "render_markdown", "to_json"]

#: Ends the name of a column of ratios; its cells read ``1.23x``.
RATIO_MARK = "(x)"

#: A measured value; None when the candidate is not available (an SDK's private API moved).
Value = float | int | str | None


@dataclass(frozen=True, slots=True)
class Row:
    """One candidate's measurements, by column name; ``note`` explains an n/a or an oddity."""

    label: str
    values: Mapping[str, Value]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """One benchmark's result: a title, the columns in display order, the rows, notes below.

    A column whose name ends in ``RATIO_MARK`` holds ratios (against the row named in
    ``baseline``, or between two columns).
    """

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    baseline: str = ""
    notes: tuple[str, ...] = field(default=())

    def row(self, label: str) -> Row:
        """The row called ``label``.

        Raises:
            KeyError: no row has that label.
        """
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def format_value(value: Value, column: str = "") -> str:
    """A value as a table cell: ratios as ``1.23x``, big numbers with thousands separators."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if column.endswith(RATIO_MARK):
        return f"{value:.2f}x"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render_markdown(tables: Sequence[Table], *, header: Sequence[str] = ()) -> str:
    """All tables as one markdown document (``header`` lines first)."""
    parts: list[str] = [*header, ""] if header else []
    for table in tables:
        parts.append(f"### {table.title}")
        parts.append("")
        parts.append("| " + " | ".join(("", *table.columns)) + " |")
        parts.append("|" + "---|" + "---:|" * len(table.columns))
        for row in table.rows:
            label = f"{row.label} ¹" if row.note else row.label
            cells = [format_value(row.values.get(col), col) for col in table.columns]
            parts.append("| " + " | ".join((label, *cells)) + " |")
        notes = [f"¹ {row.label}: {row.note}" for row in table.rows if row.note]
        notes.extend(table.notes)
        if notes:
            parts.append("")
            parts.extend(f"- {note}" for note in notes)
        parts.append("")
    return "\n".join(parts)


def to_json(tables: Sequence[Table], *, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All tables as plain JSON data."""
    return {
        "meta": dict(meta or {}),
        "benchmarks": [
            {
                "name": table.name,
                "title": table.title,
                "baseline": table.baseline,
                "columns": list(table.columns),
                "rows": [
                    {"label": row.label, "values": dict(row.values), "note": row.note}
                    for row in table.rows
                ],
                "notes": list(table.notes),
            }
            for table in tables
        ],
    }
