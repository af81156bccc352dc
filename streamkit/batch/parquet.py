"""A result store in Parquet (``pip install streamkit-llm[parquet]``): a directory of part files.

Parquet files cannot be appended to, so the store is a directory (``answers.parquet/``) of
immutable part files. Records are buffered and written as a new part every ``flush_every``
records and on ``close()``; each part is written to a temporary name and renamed into place, so
a reader never sees half a part, and part names carry the writer's process id and a random
suffix, so several processes can write one store. A crash loses at most the records not yet
flushed: a re-run asks those rows again. Partial answers (``store_partials``) go to a JSON Lines
file beside the parts, which is appended to at once.

Columns: ``key``, ``request_hash``, ``status``, ``text``, ``input_tokens``, ``output_tokens``,
``attempts``, and ``record`` (the whole record as JSON text, so nested fields keep their shape).
pyarrow is imported only here.
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from streamkit.batch.store import JSONLStore, StoredPartial, StrPath
from streamkit.extras import missing_extra

__all__ = ["ParquetStore"]

_PARTIALS = "partials.jsonl"


def _pyarrow() -> tuple[Any, Any]:
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise missing_extra("parquet", "Parquet stores need pyarrow") from exc


class ParquetStore:
    """A ``ResultStore`` in a directory of Parquet parts; see the module docstring.

    Args:
        path: the directory (created if missing).
        flush_every: records buffered before a part is written.
        index_appends: also index the records this object writes (see ``JSONLStore``).

    Raises:
        ImportError: pyarrow is not installed.
    """

    def __init__(
        self, path: StrPath, *, flush_every: int = 1000, index_appends: bool = True
    ) -> None:
        self._pa, self._pq = _pyarrow()
        self._index_appends = index_appends
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        self._flush_every = flush_every
        self._buffer: list[dict[str, Any]] = []
        # key -> (request_hash, part file or None while buffered, row in the part); done first.
        self._done: dict[str, tuple[str, str, int]] = {}
        self._failed: dict[str, tuple[str, str, int]] = {}
        self._buffered: dict[str, dict[str, Any]] = {}
        self._partials = JSONLStore(os.path.join(self.path, _PARTIALS), index_appends=index_appends)
        self._parts = 0
        self._closed = False
        self._index()

    def _index(self) -> None:
        for name in sorted(os.listdir(self.path)):
            if not name.endswith(".parquet"):
                continue
            part = os.path.join(self.path, name)
            table = self._pq.read_table(part, columns=["key", "request_hash", "status"])
            columns = table.to_pydict()
            for row, (key, fingerprint, status) in enumerate(
                zip(columns["key"], columns["request_hash"], columns["status"], strict=True)
            ):
                self._note(key, fingerprint, status, (fingerprint, part, row))

    def _note(self, key: str, fingerprint: str, status: str, where: tuple[str, str, int]) -> None:
        if status == "done":
            self._done[key] = where
            self._failed.pop(key, None)
        elif status == "failed" and key not in self._done:
            self._failed[key] = where

    def is_done(self, key: str, request_hash: str) -> bool:
        """Whether ``key`` has a ``done`` record for this very request."""
        where = self._done.get(key)
        return where is not None and where[0] == request_hash

    def get(self, key: str) -> dict[str, Any] | None:
        """The winning record of ``key`` (``done``, else ``failed``), or None."""
        where = self._done.get(key) or self._failed.get(key)
        if where is None:
            return None
        _, part, row = where
        if not part:
            return self._buffered.get(key)
        table = self._pq.read_table(part, columns=["record"])
        return dict(orjson.loads(table.column("record")[row].as_py()))

    def partial(self, key: str, request_hash: str) -> StoredPartial | None:
        """The saved partial answer of ``key`` for this request, if its row never finished."""
        if key in self._done or key in self._failed:
            return None
        return self._partials.partial(key, request_hash)

    def append(self, record: Mapping[str, Any]) -> None:
        """Buffer a record (a partial is appended to the partials file at once)."""
        if self._closed:
            raise ValueError(f"the store {self.path!r} is closed")
        if record.get("status") == "partial":
            self._partials.append(record)
            return
        self._buffer.append(dict(record))
        if self._index_appends:
            key, fingerprint = str(record["key"]), str(record["request_hash"])
            self._buffered[key] = dict(record)
            self._note(key, fingerprint, str(record.get("status")), (fingerprint, "", 0))
        if len(self._buffer) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as a new part file."""
        if not self._buffer:
            return
        records, self._buffer = self._buffer, []
        name = f"part-{os.getpid()}-{secrets.token_hex(4)}-{self._parts:05d}.parquet"
        self._parts += 1
        table = self._pa.table(
            {
                "key": [str(r["key"]) for r in records],
                "request_hash": [str(r["request_hash"]) for r in records],
                "status": [str(r.get("status")) for r in records],
                "text": [r.get("text") or "" for r in records],
                "input_tokens": [(r.get("usage") or {}).get("input_tokens") for r in records],
                "output_tokens": [(r.get("usage") or {}).get("output_tokens") for r in records],
                "attempts": [r.get("attempts") for r in records],
                "record": [orjson.dumps(r).decode() for r in records],
            }
        )
        final = os.path.join(self.path, name)
        temporary = os.path.join(self.path, "." + name + ".tmp")
        self._pq.write_table(table, temporary)
        os.replace(temporary, final)  # a reader sees the whole part or none of it
        if not self._index_appends:
            return
        for row, record in enumerate(records):
            key, fingerprint = str(record["key"]), str(record["request_hash"])
            self._buffered.pop(key, None)
            self._note(key, fingerprint, str(record.get("status")), (fingerprint, final, row))

    def records(self) -> Iterator[dict[str, Any]]:
        """The winning record of every key (flushed parts first, then the buffer)."""
        self.flush()
        winners: dict[str, set[int]] = {}
        for _, part, row in [*self._done.values(), *self._failed.values()]:
            winners.setdefault(part, set()).add(row)
        for part in sorted(winners):  # each part is read once
            column = self._pq.read_table(part, columns=["record"]).column("record")
            for row in sorted(winners[part]):
                yield dict(orjson.loads(column[row].as_py()))

    def close(self) -> None:
        """Write what is buffered and close; idempotent."""
        if self._closed:
            return
        self.flush()
        self._partials.close()
        self._closed = True
