"""The result store: one record per row, keyed, appended as rows finish, read back on re-runs.

A record is a JSON object::

    {"key": "row-7", "request_hash": "9f2c...", "status": "done" | "failed",
     "text": "...", "message": {...message_to_dict...} | null,
     "error": {"type": "RateLimitError", "message": "...", "status": 429} | null,
     "usage": {"input_tokens": 12, "output_tokens": 80} | null,
     "timing": {"ttft": 0.41, "seconds": 2.3, "tokens_per_s": 42.1},
     "attempts": 1, "meta": {...} | null}

and, with ``store_partials``, ``{"key", "request_hash", "status": "partial", "partial": {"id",
"model", "start", "text"}}`` records that hold the text of an unfinished answer, so that a row
cut by a crash is continued from it instead of being asked again. Each partial record holds only
the text added since the previous one (``start`` is where it goes), so saving a long answer
every second costs its length once, not once per save; the chain is joined when read back.

Which record counts: for a key, the last ``done`` record wins over everything; otherwise the last
``failed`` one. A partial counts only while no later ``done`` or ``failed`` record of its key
exists. A re-run skips a key whose winning ``done`` record has the same request hash.

``JSONLStore`` is the default. Crash and concurrency safety: each record is one ``write`` of
its bytes, newline included, to a file opened for appending, under an exclusive ``flock``, so
several processes appending to one store never interleave or lose records. A line torn by a
crash (disk full, power loss) is set apart by the next writer, which first ends the file with a
newline, and readers skip lines that are not JSON objects. Memory: the index keeps a few small
values per key (status, hash, file offset), never the answers; a stored record is read back
from its offset when asked for.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from streamkit.jsonl_file import StrPath

if sys.platform != "win32":
    import fcntl
else:  # pragma: no cover - Windows: appends are still single writes, but not locked
    fcntl = None

__all__ = [
    "JSONLStore",
    "ResultStore",
    "RowStatus",
    "StoredPartial",
    "StrPath",
    "open_store",
]

RowStatus = Literal["done", "failed", "partial"]


@dataclass(frozen=True, slots=True)
class StoredPartial:
    """The saved beginning of an unfinished answer: its id, model and text so far."""

    id: str
    model: str
    text: str


class ResultStore(Protocol):
    """Where ``sk.batch`` keeps one record per row; see the module docstring for the records."""

    def is_done(self, key: str, request_hash: str) -> bool:
        """Whether ``key`` has a ``done`` record for this very request."""
        ...

    def get(self, key: str) -> dict[str, Any] | None:
        """The winning record of ``key`` (``done``, else ``failed``), or None."""
        ...

    def partial(self, key: str, request_hash: str) -> StoredPartial | None:
        """The saved partial answer of ``key`` for this request, if its row never finished."""
        ...

    def append(self, record: Mapping[str, Any]) -> None:
        """Add a ``done``, ``failed`` or ``partial`` record."""
        ...

    def records(self) -> Iterator[dict[str, Any]]:
        """The winning record of every key, in the order the keys were first finished."""
        ...

    def close(self) -> None:
        """Flush and release the store; idempotent."""
        ...


@dataclass(slots=True)
class _Entry:
    request_hash: str
    offset: int


class JSONLStore:
    """A result store in a JSON Lines file; the default (see the module docstring).

    The file is read once when the store is opened, to index what earlier runs finished.

    Args:
        path: the file; created on the first record.
        index_appends: also index the records this object appends, so that ``is_done``,
            ``get`` and ``records`` see them. ``sk.batch`` turns it off for the stores it
            opens: it never asks about a row it finished itself, and the index would otherwise
            grow with every row of the run (reopen the store to read it).

    Raises:
        OSError: the file exists but cannot be read.
    """

    def __init__(self, path: StrPath, *, index_appends: bool = True) -> None:
        self.path = os.fspath(path)
        self._index_appends = index_appends
        self._done: dict[str, _Entry] = {}
        self._failed: dict[str, _Entry] = {}
        self._partials: dict[str, list[_Entry]] = {}
        self._fd: int | None = None
        self._reader: Any = None
        self._closed = False
        #: Lines skipped while indexing: torn by a crash, or not records.
        self.skipped_lines = 0
        if os.path.exists(self.path):
            self._index()

    def __repr__(self) -> str:
        return f"JSONLStore({self.path!r}, done={len(self._done)}, failed={len(self._failed)})"

    def __enter__(self) -> JSONLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def done_count(self) -> int:
        """How many keys have a ``done`` record."""
        return len(self._done)

    def _index(self) -> None:
        with open(self.path, "rb") as file:
            offset = 0
            for line in file:
                start, offset = offset, offset + len(line)
                record = _parse(line)
                if record is None:
                    self.skipped_lines += line.strip() != b""
                    continue
                self._note(record, start)

    def _note(self, record: Mapping[str, Any], offset: int) -> None:
        key, status = record.get("key"), record.get("status")
        request_hash = record.get("request_hash")
        if not isinstance(key, str) or not isinstance(request_hash, str):
            return
        entry = _Entry(request_hash, offset)
        if status == "done":
            self._done[key] = entry
            self._failed.pop(key, None)
            self._partials.pop(key, None)
        elif status == "failed":
            self._failed[key] = entry
            self._partials.pop(key, None)
        elif status == "partial":
            saved = record.get("partial")
            start = saved.get("start", 0) if isinstance(saved, Mapping) else 0
            chain = self._partials.get(key)
            if start == 0 or chain is None or chain[-1].request_hash != request_hash:
                self._partials[key] = [entry]  # a new chain: the answer (re)started
            else:
                chain.append(entry)

    def is_done(self, key: str, request_hash: str) -> bool:
        """Whether ``key`` has a ``done`` record for this very request."""
        entry = self._done.get(key)
        return entry is not None and entry.request_hash == request_hash

    def get(self, key: str) -> dict[str, Any] | None:
        """The winning record of ``key`` (``done``, else ``failed``), or None."""
        entry = self._done.get(key) or self._failed.get(key)
        return None if entry is None else self._read_at(entry.offset)

    def partial(self, key: str, request_hash: str) -> StoredPartial | None:
        """The saved partial answer of ``key`` for this request, if its row never finished.

        The chain of partial records is joined while each piece starts where the text so far
        ends; a piece that does not (a record lost or out of place) ends the text there.
        """
        chain = self._partials.get(key)
        if not chain or chain[0].request_hash != request_hash:
            return None
        pieces: list[str] = []
        length = 0
        ident = model = ""
        for entry in chain:
            record = self._read_at(entry.offset)
            saved = record.get("partial") if record else None
            if not isinstance(saved, Mapping) or not isinstance(saved.get("text"), str):
                break
            if saved.get("start", 0) != length:
                break
            ident = ident or str(saved.get("id", ""))
            model = model or str(saved.get("model", ""))
            pieces.append(saved["text"])
            length += len(saved["text"])
        return StoredPartial(ident, model, "".join(pieces)) if pieces else None

    def records(self) -> Iterator[dict[str, Any]]:
        """The winning record of every key, in file order of those records."""
        entries = sorted(
            [*self._done.values(), *(e for k, e in self._failed.items() if k not in self._done)],
            key=lambda entry: entry.offset,
        )
        for entry in entries:
            record = self._read_at(entry.offset)
            if record is not None:
                yield record

    def _read_at(self, offset: int) -> dict[str, Any] | None:
        if self._reader is None:
            self._reader = open(self.path, "rb")  # closed in close()
        self._reader.seek(offset)
        return _parse(self._reader.readline())

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record with a single locked write (see the module docstring).

        Raises:
            ValueError: the store is closed.
            TypeError: the record holds something JSON cannot represent.
            OSError: the file cannot be written.
        """
        if self._closed:
            raise ValueError(f"the store {self.path!r} is closed")
        data = orjson.dumps(dict(record), option=orjson.OPT_APPEND_NEWLINE)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with _locked(self._fd):
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd_for_read(), 1, size - 1) != b"\n":
                # Another writer was cut mid-record: end its fragment so ours is a whole line.
                _write_all(self._fd, b"\n")
                size += 1
            _write_all(self._fd, data)
        if self._index_appends:
            self._note(record, size)

    def _fd_for_read(self) -> int:
        if self._reader is None:
            self._reader = open(self.path, "rb")
        return int(self._reader.fileno())

    def close(self) -> None:
        """Close the file handles; idempotent."""
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # a write to a regular file may, rarely, take only part of the bytes
        view = view[os.write(fd, view) :]


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        # A last line without its newline may be a writer's record in progress or a torn one.
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def open_store(path: StrPath | ResultStore, *, index_appends: bool = True) -> ResultStore:
    """Open the result store at ``path``: Parquet for a ``.parquet`` path, else JSON Lines.

    A store object is returned unchanged. ``index_appends``: see ``JSONLStore``.

    Raises:
        ImportError: a ``.parquet`` path and pyarrow is not installed.
    """
    if not isinstance(path, str | os.PathLike):
        return path
    name = os.fspath(path)
    if name.endswith(".parquet"):
        from streamkit.batch.parquet import ParquetStore

        store: ResultStore = ParquetStore(name, index_appends=index_appends)
        return store
    return JSONLStore(name, index_appends=index_appends)
