"""Record a live stream's raw bytes, and replay them later through the same decoders.

A ``Recorder`` is a ``ByteTap``: pass it as ``tap=`` to ``ChatEndpoint.stream`` or
``stream_chat`` and it writes a JSON Lines recording as the bytes arrive::

    {"streamkit_recording": 1, "format": "openai", "request": {...}, "resume": "continue", ...}
    {"t": 0.0, "response": 1}
    {"t": 0.0507, "b": "<base64 of the first chunk>"}
    {"t": 0.0721, "b": "..."}

``t`` is seconds since the recorder's first call: the start of the first response body (the
source marks each response body's start, ``{"t": ..., "response": n}``), or the first chunk for
a tap fed only chunks. Every attempt of a retried stream is timed on this one timeline, so the
waits between attempts are in it. The request body is stored without credentials (keys
such as ``api_key`` or ``authorization`` are dropped at any depth); API keys travel in headers,
which are never recorded. Each line is appended with one write (see ``streamkit.jsonl_file``),
so a crash costs at most the chunk being written.

``replay(path)`` decodes the recorded bytes exactly as the live source does (the same SSE
decoder, format decoder and byte accounting), as fast as possible or at the original pace, scaled.

A retried stream is recorded whole: the recording keeps each response body's bytes apart, and
``replay`` plays them as the live run went, the earlier attempts failing where they broke and the
retry layer resuming as it did (the client tells the recorder the resume mode). Only
response bodies are recorded: the source calls the tap for 2xx responses alone, so an attempt
refused with an HTTP status (a 429, a 503) leaves no trace and is not replayed (its ``Retrying``
event is missing), and a recording whose every attempt was refused replays as an empty body
(``ConnectionLostError``).
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable
from reactivex.scheduler import VirtualTimeScheduler

from streamkit._credentials import is_credential_name
from streamkit.chat_decoder import ChatDecoder
from streamkit.errors import ProtocolError
from streamkit.events import StreamEvent
from streamkit.formats import FormatName, WireFormat, get_format
from streamkit.jsonl_file import StrPath, append_jsonl, read_jsonl
from streamkit.operators.base import now_seconds, resolve_scheduler
from streamkit.operators.retry import (
    DEFAULT_RESUME,
    ResumeMode,
    RetryPolicy,
    check_resume,
    retry_with_backoff,
)
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES

__all__ = ["Chunk", "Recorder", "Recording", "load_recording", "replay"]

#: The version of the recording format this module writes and reads.
RECORDING_VERSION: Final = 1


def _format_name(format: FormatName | WireFormat) -> FormatName:
    """The format's name, checked: an unknown name fails here, not at the first chunk."""
    return get_format(format).name if isinstance(format, str) else format.name


def _without_secrets(value: Any) -> Any:
    """``value`` with every credential-like key removed from the mappings in it, at any depth."""
    if isinstance(value, Mapping):
        return {
            key: _without_secrets(item)
            for key, item in value.items()
            if not is_credential_name(str(key))
        }
    if isinstance(value, list | tuple):
        return [_without_secrets(item) for item in value]
    return value


class Recorder:
    """A byte tap that writes a stream's raw body to a replayable JSON Lines recording.

    Creating it starts the file (replacing an existing one); the header line is written before
    the first chunk, and each call appends one chunk. Pass it as ``tap=`` of
    ``ChatEndpoint.stream`` or ``stream_chat`` for one stream: the client tells it (through
    ``describe``) the stream's format, its request and its resume mode, so a replay of a retried
    stream resumes as the live one did.

    Args:
        path: the recording file.
        format: the stream's wire format; needed only when the recorder taps something other
            than the client (which tells it).
        request_body: the request to store (without credentials); by default the client's.
        metadata: anything JSON to keep with the recording, also without credentials.

    Raises:
        ValueError: ``format`` names no known format.

    Example:
        >>> recorder = Recorder("run.jsonl", format="openai", request_body=body)  # doctest: +SKIP
        >>> events = sk.stream_chat(url, body, tap=recorder)  # doctest: +SKIP
        >>> message = await sk.collect_message(events)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: StrPath,
        *,
        format: FormatName | WireFormat | None = None,
        request_body: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._format = None if format is None else _format_name(format)
        self._request = request_body
        self._metadata = metadata
        self._resume: ResumeMode = DEFAULT_RESUME
        self._path = path
        self._first: float | None = None
        self._responses = 0
        self._started = False  # a chunk was written: the header is final
        self._closed = False
        if self._format is None:
            with open(path, "wb"):  # a new recording replaces an old one
                pass
        else:
            self._write_header()

    def describe(
        self, *, format: FormatName, request: Mapping[str, Any], resume: ResumeMode
    ) -> None:
        """Learn what is recorded; ``ChatEndpoint.stream`` calls it before the first byte.

        Raises:
            ValueError: the recorder was made for another format, or it has started recording.
        """
        name = _format_name(format)
        if self._format is not None and self._format != name:
            raise ValueError(
                f"the recorder of {os.fspath(self._path)!r} was made for {self._format!r}, "
                f"not {name!r}"
            )
        if self._started:
            raise ValueError(f"the recorder of {os.fspath(self._path)!r} is already recording")
        self._format = name
        if self._request is None:
            self._request = request
        self._resume = check_resume(resume)
        self._write_header()  # no chunk yet: the file holds at most the header, rewritten

    def _write_header(self) -> None:
        if self._format is None:
            raise ValueError(
                f"the recorder of {os.fspath(self._path)!r} does not know the stream's format: "
                "pass format= or use it as the tap of ChatEndpoint.stream / stream_chat"
            )
        with open(self._path, "wb"):  # a new recording replaces an old one
            pass
        header: dict[str, Any] = {
            "streamkit_recording": RECORDING_VERSION,
            "format": self._format,
            "request": _without_secrets(self._request),
            "resume": self._resume,
            "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if self._metadata is not None:
            header["metadata"] = _without_secrets(self._metadata)
        append_jsonl(self._path, header)

    def __call__(self, chunk: bytes, received_at: float) -> None:
        """Append ``chunk``, received at ``received_at`` (monotonic seconds).

        An empty chunk marks the start of a response body (see ``ByteTap``).

        Raises:
            ValueError: the recorder is closed.
            OSError: the file cannot be written.
        """
        if self._closed:
            raise ValueError(f"the recorder of {os.fspath(self._path)!r} is closed")
        if not self._started:
            if self._format is None:
                self._write_header()  # raises: nobody said what is recorded
            self._started = True
        if self._first is None:
            self._first = received_at
        t = round(received_at - self._first, 6)
        if chunk:
            append_jsonl(self._path, {"t": t, "b": base64.b64encode(chunk).decode()})
        else:
            self._responses += 1
            append_jsonl(self._path, {"t": t, "response": self._responses})

    def close(self) -> None:
        """Stop recording; idempotent. Later chunks raise ``ValueError``.

        The file is opened only for each write, so an unclosed recorder holds nothing open.
        """
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One recorded read: ``t`` seconds after the recording started, and its bytes."""

    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Recording:
    """A loaded recording.

    Attributes:
        format: the stream's wire format.
        request: the request body, without credentials (None if not recorded).
        responses: the chunks of each response body (each attempt of a retried stream), all
            timed from the recording's start; a body that ended before its first byte is an
            empty tuple.
        created: when the recording started, ISO 8601 UTC.
        metadata: what the recorder was given to keep.
        resume: the resume mode the recorded stream used.
    """

    format: FormatName
    request: dict[str, Any] | None
    responses: tuple[tuple[Chunk, ...], ...] = ()
    created: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    resume: ResumeMode = DEFAULT_RESUME

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """Every response's chunks, in the order they were read."""
        return tuple(chunk for response in self.responses for chunk in response)

    @property
    def body(self) -> bytes:
        """All the recorded bytes, joined."""
        return b"".join(chunk.data for chunk in self.chunks)


def load_recording(path: StrPath) -> Recording:
    """Read a recording written by ``Recorder``; a chunk torn by a crash is left out.

    Raises:
        ProtocolError: the file is not a streamkit recording (no header, a newer version, an
            unknown format, a malformed chunk line); ``JSONLError`` names a corrupt line.
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    records = read_jsonl(path)
    header = next(records, None)
    if header is None or "streamkit_recording" not in header:
        raise ProtocolError(f"{name} is not a streamkit recording: no header line")
    version = header["streamkit_recording"]
    if version != RECORDING_VERSION:
        raise ProtocolError(f"{name}: recording version {version!r} is not supported")
    try:
        fmt = get_format(header.get("format", ""))
    except ValueError as exc:
        raise ProtocolError(f"{name}: {exc}") from exc
    responses: list[list[Chunk]] = []
    for number, record in enumerate(records, 2):
        if "response" in record:
            responses.append([])
        elif responses:
            responses[-1].append(_chunk(name, number, record))
        else:  # a recording without response marks: one body
            responses.append([_chunk(name, number, record)])
    try:
        resume = check_resume(header.get("resume", DEFAULT_RESUME))
    except ValueError as exc:
        raise ProtocolError(f"{name}: {exc}") from exc
    return Recording(
        format=fmt.name,
        request=header.get("request"),
        responses=tuple(tuple(response) for response in responses),
        created=header.get("created"),
        metadata=header.get("metadata") or {},
        resume=resume,
    )


def _chunk(name: str, number: int, record: Mapping[str, Any]) -> Chunk:
    try:
        return Chunk(float(record["t"]), base64.b64decode(record["b"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ProtocolError(f"{name}, line {number}: not a recorded chunk ({exc!r})") from exc


def replay(
    path: StrPath,
    *,
    speed: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> Observable[StreamEvent]:
    """Replay a recording as the stream of events the live source emitted.

    The bytes go through the same decoding as ``ChatEndpoint.stream`` (SSE decoder, the format's
    decoder, ``wire_bytes`` accounting), so errors are the same too: an error event in the
    recording is an ``APIStatusError``, a recording that stops before the format's end marker
    ends with ``ConnectionLostError``, and so does one with no body bytes at all. The file is read
    at each subscription.

    Timing: each subscription is the origin of one timeline that every attempt shares. A chunk
    recorded at ``t`` (seconds since the recording's start, see the module docstring) is stamped
    ``received_at`` = origin + ``t / speed`` (origin + ``t`` when ``speed`` is None); a timed
    replay also emits it then, scheduled at its scheduler's ``now`` at subscription plus
    ``t / speed``. The origin is read at subscription on the clock the live source stamps with
    and ``ProgressMeter`` measures with: ``time.monotonic``, or the virtual clock of a test
    ``scheduler`` (for a timed replay, of the scheduler it runs on). So ``measure_progress`` gives
    the recorded run's timing scaled by ``speed``, and for a fast replay the recorded timing
    itself, though its events come at once. The recording starts when the first response's body
    begins, not when the request was sent, so a replayed ``ttft`` leaves out the connection and
    request time of the live one. A response's end is not recorded: it ends at its last chunk.
    Disposing stops the replay.

    A recording of a retried stream plays each recorded attempt in turn on that timeline: an
    attempt that broke fails where it broke (a cut body is a ``ConnectionLostError``), and
    ``retry_with_backoff`` resumes with the recorded ``resume`` mode while recorded attempts
    remain, so the result is the one the live run gave, its final error included (not a
    ``RetryExhaustedError``), ``Retrying`` events too: their ``cause`` is what the bytes show and
    their ``delay`` is 0, as the wait before each attempt is already in the timeline (a timed
    replay waits as the live run did; a fast replay stamps later attempts at their recorded
    times). Attempts refused with an HTTP status were not recorded and are not replayed.

    ``speed=None`` emits everything at once, synchronously on subscribe, except that a retried
    recording continues each later attempt on ``scheduler`` (else the subscriber's, else the
    running asyncio loop's, else reactivex's ``TimeoutScheduler`` thread: from synchronous code
    with no scheduler, ``subscribe`` returns before such a replay has ended). A number replays at
    the original pace divided by it (``2.0`` is twice as fast), on ``scheduler`` (else the
    subscriber's, else the running asyncio loop's).

    Args:
        path: the recording.
        speed: how many times faster than recorded; None for as fast as possible.
        scheduler: the scheduler that paces a timed replay, or continues a fast replay's retries.
        max_event_bytes: the largest SSE event accepted.

    Raises:
        ValueError: ``speed`` is not positive.

    Marble (chunks at t = 0, 1, 3 s; ``speed=2.0``; one event each)::

        replay:  a-b--c|      (a at 0 s, b at 0.5 s, c and completion at 1.5 s)
    """
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be positive or None, got {speed!r}")

    def subscribe(
        observer: abc.ObserverBase[StreamEvent],
        subscribe_scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        try:
            recording = load_recording(path)
        except Exception as exc:
            observer.on_error(exc)
            return Disposable()
        retry_scheduler = scheduler
        if speed is None:
            timeline = _Timeline(_stamp_clock(scheduler)())
        else:
            retry_scheduler = pacer = resolve_scheduler(scheduler, subscribe_scheduler)
            timeline = _Timeline(_stamp_clock(pacer)(), speed, pacer, pacer.now)
        if len(recording.responses) <= 1:
            chunks = recording.responses[0] if recording.responses else ()
            play = _play_response(recording.format, chunks, timeline, max_event_bytes)
        else:
            play = _play_attempts(recording, timeline, retry_scheduler, max_event_bytes)
        return play.subscribe(observer, scheduler=subscribe_scheduler)

    return Observable(subscribe)


_EPOCH: Final = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Where one replay subscription puts recorded times; every attempt shares it.

    Attributes:
        origin: the ``received_at`` of recorded time 0.
        speed: how many times faster than recorded (1.0 for a fast replay's stamps).
        scheduler: the scheduler that paces a timed replay; None for a fast one.
        start: the scheduler's time of recorded time 0.
    """

    origin: float
    speed: float = 1.0
    scheduler: abc.SchedulerBase | None = None
    start: datetime = _EPOCH

    def stamp(self, t: float) -> float:
        """The ``received_at`` of a chunk recorded at ``t``."""
        return self.origin + t / self.speed

    def due(self, t: float) -> datetime:
        """When a timed replay emits a chunk recorded at ``t``, on its scheduler."""
        return self.start + timedelta(seconds=t / self.speed)


def _play_response(
    format: FormatName,
    chunks: tuple[Chunk, ...],
    timeline: _Timeline,
    max_event_bytes: int,
) -> Observable[StreamEvent]:
    """One response body's events, decoded as the live source decodes them, on ``timeline``."""

    def subscribe(
        observer: abc.ObserverBase[StreamEvent],
        subscribe_scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        player = _Player(format, chunks, observer, max_event_bytes)
        if timeline.scheduler is None:
            player.play_all(timeline)
            return Disposable(player.stop)
        return player.schedule(timeline.scheduler, timeline)

    return Observable(subscribe)


def _play_attempts(
    recording: Recording,
    timeline: _Timeline,
    scheduler: abc.SchedulerBase | None,
    max_event_bytes: int,
) -> Observable[StreamEvent]:
    """The attempts of a retried recording, resumed as the live retry layer resumed them.

    Each failure is retried, at once, while a recorded attempt remains; the last one's outcome
    passes unchanged.
    """
    responses = recording.responses

    def subscribe(
        observer: abc.ObserverBase[StreamEvent],
        subscribe_scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        played = 0

        def next_attempt(_: object = None) -> Observable[StreamEvent]:
            nonlocal played
            chunks = responses[played]
            played += 1
            return _play_response(recording.format, chunks, timeline, max_event_bytes)

        def another_remains(_: BaseException) -> bool:
            return played < len(responses)

        policy = RetryPolicy(
            max_attempts=len(responses),
            base_delay=0.0,
            deadline=None,
            max_retry_after=0.0,
            retryable=another_remains,
        )
        retried = reactivex.defer(next_attempt).pipe(
            retry_with_backoff(
                policy,
                resume=recording.resume,
                continuation=lambda _partial: reactivex.defer(next_attempt),
                scheduler=scheduler,
            )
        )
        return retried.subscribe(observer, scheduler=subscribe_scheduler)

    return Observable(subscribe)


def _stamp_clock(scheduler: abc.SchedulerBase | None) -> Callable[[], float]:
    """The clock replayed events are stamped on: the live source's and ``ProgressMeter``'s.

    That is ``time.monotonic``, unless ``scheduler`` keeps virtual time (a test scheduler), whose
    clock then stands for it. A real scheduler's ``now`` is wall-clock time, another timebase.
    """
    if isinstance(scheduler, VirtualTimeScheduler):
        virtual = scheduler
        return lambda: now_seconds(virtual)
    return time.monotonic


class _Player:
    """One response's replay: feeds its chunks to a fresh decoder and emits what comes out."""

    def __init__(
        self,
        format: FormatName,
        chunks: tuple[Chunk, ...],
        observer: abc.ObserverBase[StreamEvent],
        max_event_bytes: int,
    ) -> None:
        self._chunks = chunks
        self._observer = observer
        self._body = ChatDecoder(format, max_event_bytes=max_event_bytes)
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def play_all(self, timeline: _Timeline) -> None:
        """Emit everything now, stamped at the recorded times on ``timeline``."""
        if not self._chunks:
            self._finish()
        for index, chunk in enumerate(self._chunks):
            if not self._play(index, timeline.stamp(chunk.t)):
                return

    def schedule(self, scheduler: abc.SchedulerBase, timeline: _Timeline) -> abc.DisposableBase:
        """Emit each chunk's events at its time on ``timeline``; an empty body ends at once."""
        pending = SerialDisposable()

        def step(index: int) -> None:
            t = self._chunks[index].t

            def action(_: abc.SchedulerBase, __: Any = None) -> None:
                if self._play(index, timeline.stamp(t)):
                    step(index + 1)

            pending.disposable = scheduler.schedule_absolute(timeline.due(t), action)

        def finish(_: abc.SchedulerBase, __: Any = None) -> None:
            self._finish()

        if not self._chunks:
            pending.disposable = scheduler.schedule(finish)
        else:
            step(0)

        def dispose() -> None:
            self.stop()
            pending.dispose()

        return Disposable(dispose)

    def _play(self, index: int, received_at: float) -> bool:
        """Emit chunk ``index``'s events (and finish after the last); False once stopped."""
        if self._stopped:
            return False
        try:
            events = self._body.feed(self._chunks[index].data, received_at)
        except Exception as exc:
            self._fail(exc)
            return False
        for event in events:
            if self._stopped:
                return False
            self._observer.on_next(event)
        try:
            self._body.check()  # a malformed event after those
        except Exception as exc:
            self._fail(exc)
            return False
        if index == len(self._chunks) - 1:
            self._finish()
            return False
        return True

    def _finish(self) -> None:
        if self._stopped:
            return
        try:
            self._body.close()
        except Exception as exc:
            self._fail(exc)
            return
        self._stopped = True
        self._observer.on_completed()

    def _fail(self, error: Exception) -> None:
        self._stopped = True
        self._observer.on_error(error)
