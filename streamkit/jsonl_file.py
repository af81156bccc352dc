"""Crash-safe JSON Lines files: append one JSON object per line, read them back.

Every record is written with a single unbuffered write of its bytes, newline included, to a file
opened for appending, so a crash can only tear the last line. ``read_jsonl`` skips a torn last
line; a bad line anywhere else is corruption and raises ``JSONLError``. An append mends a torn
last line first: the fragment of a record that was never completely written is cut off (a last
line that is a whole object and only lacks its newline gets one), so the file stays readable
across crashes.

Several processes and threads may append to one file at once. Each append (the mend and the
write) holds an exclusive ``fcntl.flock`` on the file, and a thread lock in the appender: a
torn-looking tail is then only ever a writer that died mid-write, never another writer's record
still being written, so mending never cuts off a record in progress. A reader needs no lock: it
may see a record in progress as a torn last line, which it skips. (Without ``fcntl``, on Windows,
appends from one process are still safe; from several they are not.)

This is a file primitive and knows nothing of events: records are plain mappings (see
``streamkit.json_codec`` for events and messages). ``JSONLAppender`` keeps one file open for
many appends; ``append_jsonl`` opens, appends one record and closes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, Final, TypeAlias

import orjson

from streamkit.errors import ProtocolError

if sys.platform != "win32":
    import fcntl

__all__ = ["JSONLAppender", "JSONLError", "StrPath", "append_jsonl", "read_jsonl"]

#: A file path.
StrPath: TypeAlias = str | os.PathLike[str]


class JSONLError(ProtocolError):
    """A JSON Lines file holds a line that is not a JSON object (other than a torn last line).

    Attributes:
        path: the file.
        line_number: the bad line, counting from 1.
    """

    def __init__(self, message: str, *, path: str, line_number: int) -> None:
        super().__init__(message)
        self.path = path
        self.line_number = line_number


class JSONLAppender:
    """A JSON Lines file opened, on the first write, for appending whole records crash-safely.

    The file is opened only when the first record is written, so an appender that never writes
    leaves no file behind. Each ``write`` mends a torn last line and appends the record's line
    with one unbuffered write, under the file's exclusive lock; one appender may be shared by
    threads. ``close`` is idempotent; writing after it raises.

    Example:
        >>> appender = JSONLAppender("events.jsonl")  # doctest: +SKIP
        >>> appender.write({"type": "TextDelta", "text": "Hi"})  # doctest: +SKIP
        >>> appender.close()  # doctest: +SKIP

    Args:
        path: the file; created if missing.
    """

    def __init__(self, path: StrPath) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._closed = False
        self._lock = threading.Lock()  # flock does not order threads sharing one descriptor

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line, opening the file on the first call.

        Raises:
            TypeError: ``record`` holds something JSON cannot represent (nothing is written).
            ValueError: the appender is closed.
            OSError: the file cannot be opened or written.
        """
        data = orjson.dumps(dict(record), option=orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            if self._closed:
                raise ValueError(f"{os.fspath(self._path)!r} is closed")
            if self._file is None:
                self._file = open(self._path, "a+b", buffering=0)  # closed in close()
            with _exclusive(self._file):
                # Under the lock no other writer is mid-record, so a torn tail is a dead
                # writer's fragment; checked at every append, since one may die at any time.
                _mend_torn_tail(self._file)
                view = memoryview(data)
                while view:  # an unbuffered write may, rarely, take only part of the bytes
                    written = self._file.write(view)
                    view = view[written or 0 :]

    def close(self) -> None:
        """Close the file if it was opened; later writes raise. Safe to call again."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None


@contextlib.contextmanager
def _exclusive(file: BinaryIO) -> Iterator[None]:
    """Hold an exclusive lock on ``file`` against every other appender, in any process."""
    if sys.platform == "win32":
        yield
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)


_TAIL_BLOCK: Final = 64 * 1024


def _mend_torn_tail(file: BinaryIO) -> None:
    """Make a file whose last line was torn by a crash end in ``"\n"`` again, before appending.

    A last line that still parses as a whole object only lost its newline: the newline is added.
    Anything else is the fragment of a record never completely written: it is cut off, since
    the next record would otherwise be glued to it and the line would be unreadable.
    """
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return
    file.seek(size - 1)
    if file.read(1) == b"\n":
        return
    start = size
    while start > 0:  # find the start of the last line, reading backwards
        block_start = max(0, start - _TAIL_BLOCK)
        file.seek(block_start)
        newline = file.read(start - block_start).rfind(b"\n")
        if newline >= 0:
            start = block_start + newline + 1
            break
        start = block_start
    file.seek(start)
    if _is_object(file.read()):
        file.write(b"\n")
    else:
        file.truncate(start)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def append_jsonl(path: StrPath, record: Mapping[str, Any]) -> None:
    """Append ``record`` to ``path`` as one JSON line (creating the file), crash-safely.

    Example:
        >>> append_jsonl("answers.jsonl", {"id": "msg_1", "text": "Hi"})  # doctest: +SKIP

    Raises:
        TypeError: ``record`` holds something JSON cannot represent.
        OSError: the file cannot be written.
    """
    file = JSONLAppender(path)
    try:
        file.write(record)
    finally:
        file.close()


def read_jsonl(path: StrPath) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines file, in order, reading as it goes.

    A last line without its newline was torn by a crash mid-write: it is yielded if it still
    parses as a whole object and skipped if not. Blank lines are skipped.

    Raises:
        JSONLError: a line, other than a torn last one, is not a JSON object; it names the line.
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            torn = not line.endswith(b"\n")
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if torn:
                    return
                raise JSONLError(
                    f"{name}, line {number}: not valid JSON ({exc})", path=name, line_number=number
                ) from exc
            if not isinstance(record, dict):
                if torn:
                    return
                raise JSONLError(
                    f"{name}, line {number}: a JSON {type(record).__name__}, not an object",
                    path=name,
                    line_number=number,
                )
            yield record
