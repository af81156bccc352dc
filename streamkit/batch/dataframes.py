"""DataFrames in and out of ``sk.batch``: pandas, polars and Arrow tables, as optional extras.

``await answer_frame(df, request=..., endpoint=..., key="id")`` runs one row per DataFrame row
and returns the same kind of frame with result columns added (``answer``, ``answer_status``,
``answer_error``, ``input_tokens``, ``output_tokens``), in the frame's row order.
``store_frame(store, library="pandas")`` reads a result store back as a frame.

The libraries are imported only here, and only the one the caller's frame belongs to (the
extras ``pandas``, ``polars`` and ``parquet`` for Arrow: ``pip install 'streamkit-llm[pandas]'``).
Rows are handed to the batch one at a time (pandas ``itertuples``, polars ``iter_rows``, Arrow
record batches), so no second copy of the frame is made as dicts.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, Literal

from streamkit.batch.results import RowResult
from streamkit.batch.rows import KeySpec
from streamkit.batch.runner import RequestBuilder, batch
from streamkit.batch.store import ResultStore, StrPath, open_store
from streamkit.client import ChatEndpoint

__all__ = ["answer_frame", "frame_rows", "store_frame"]

Library = Literal["pandas", "polars", "arrow"]


def _library(frame: Any) -> Library:
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        return "pandas"
    if module == "polars":
        return "polars"
    if module == "pyarrow":
        return "arrow"
    raise TypeError(
        f"expected a pandas or polars DataFrame or a pyarrow Table, got {type(frame).__name__}"
    )


def frame_rows(frame: Any) -> Iterator[dict[str, Any]]:
    """The rows of a pandas/polars DataFrame or an Arrow table as dicts, one at a time."""
    library = _library(frame)
    if library == "pandas":
        columns = [str(name) for name in frame.columns]
        for values in frame.itertuples(index=False, name=None):
            yield dict(zip(columns, values, strict=True))
    elif library == "polars":
        yield from frame.iter_rows(named=True)
    else:
        for record_batch in frame.to_batches():
            yield from record_batch.to_pylist()


async def answer_frame(
    frame: Any,
    *,
    request: RequestBuilder,
    endpoint: ChatEndpoint,
    key: KeySpec = "id",
    column: str = "answer",
    **options: Any,
) -> Any:
    """Answer every row of ``frame``; return a frame of its kind with the result columns added.

    ``options`` are passed on to ``sk.batch`` (``store=``, ``concurrency=``, ``limiter=``...);
    with a store, a re-run skips rows already done and still returns every row's answer.

    Added columns: ``{column}`` (the text; None for a failed row), ``{column}_status``
    (``done``/``skipped``/``failed``), ``{column}_error`` (the error message or None),
    ``input_tokens`` and ``output_tokens`` (of this run; 0 for skipped rows).

    Raises:
        TypeError: ``frame`` is not a pandas or polars DataFrame or an Arrow table.
    """
    library = _library(frame)
    results = await batch(
        frame_rows(frame), request=request, endpoint=endpoint, key=key, **options
    ).collect()
    columns = _result_columns(results, column)
    if library == "pandas":
        return frame.assign(**columns)
    if library == "polars":
        polars: Any = importlib.import_module("polars")
        return frame.with_columns([polars.Series(name, values) for name, values in columns.items()])
    table = frame
    for name, values in columns.items():
        table = table.append_column(name, importlib.import_module("pyarrow").array(values))
    return table


def _result_columns(results: list[RowResult], column: str) -> dict[str, list[Any]]:
    def usage(result: RowResult, name: str) -> int:
        if result.status == "skipped":
            return 0
        return int((result.record.get("usage") or {}).get(name) or 0)

    def error(result: RowResult) -> str | None:
        stored = result.record.get("error")
        return str(stored.get("message")) if isinstance(stored, dict) else None

    return {
        column: [r.text if r.ok else None for r in results],
        f"{column}_status": [r.status for r in results],
        f"{column}_error": [error(r) for r in results],
        "input_tokens": [usage(r, "input_tokens") for r in results],
        "output_tokens": [usage(r, "output_tokens") for r in results],
    }


def store_frame(store: StrPath | ResultStore, *, library: Library = "pandas") -> Any:
    """The winning record of every key in a result store, as a frame.

    Columns: ``key``, ``status``, ``text``, ``input_tokens``, ``output_tokens``, ``attempts``,
    ``ttft``, ``seconds``, ``error``.
    """
    opened = open_store(store)
    rows = []
    try:
        for record in opened.records():
            usage = record.get("usage") or {}
            timing = record.get("timing") or {}
            error = record.get("error")
            rows.append(
                {
                    "key": record.get("key"),
                    "status": record.get("status"),
                    "text": record.get("text"),
                    "input_tokens": usage.get("input_tokens"),
                    "output_tokens": usage.get("output_tokens"),
                    "attempts": record.get("attempts"),
                    "ttft": timing.get("ttft"),
                    "seconds": timing.get("seconds"),
                    "error": error.get("message") if isinstance(error, dict) else None,
                }
            )
    finally:
        if opened is not store:
            opened.close()
    if library == "pandas":
        return importlib.import_module("pandas").DataFrame(rows)
    if library == "polars":
        return importlib.import_module("polars").DataFrame(rows)
    return importlib.import_module("pyarrow").Table.from_pylist(rows)
