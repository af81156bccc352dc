"""``batch``: many rows, one streamed answer each, keyed, resumable, rate-limited, flat in memory.

How a run is put together:

- ``concurrency`` worker tasks pull rows one at a time from the (sync or async) iterable, so at
  most ``concurrency`` rows exist in the run at once and nothing is created per row up front.
- They share one endpoint, one ``aiohttp`` session whose connector holds ``concurrency``
  connections (aiohttp's default of 100 would silently cap a larger run), and one
  ``RateLimiter``. The session reports every response's headers to the limiter as they arrive,
  so provider rate-limit headers adjust it and a 429 pauses every stream at once.
- Each attempt of a row (first request, retry, continuation) goes through the limiter
  (``rate_limited``), then ``retry_with_backoff`` with the endpoint's continuation request.
- A finished row is appended to the result store before its result is handed out; a re-run
  against the same store skips rows whose request is unchanged. With ``store_partials`` the
  text of each running row is saved every ``partial_interval`` seconds, and a row found
  unfinished by the next run is continued from it (``resume="continue"``): only the missing
  tokens are asked for.
- Results are yielded in completion order; ``collect()`` returns them in input order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final, Literal

import aiohttp
import reactivex
from reactivex import Observable

from streamkit.batch.limiter import RateLimiter
from streamkit.batch.results import (
    BatchSummary,
    Budget,
    RowResult,
    error_record,
)
from streamkit.batch.rows import KeySpec, aiter_rows, estimate_request_tokens, request_hash, row_key
from streamkit.batch.store import ResultStore, StoredPartial, StrPath, open_store
from streamkit.batch.structured import Validator
from streamkit.batch.throttle import rate_limited
from streamkit.client import ChatEndpoint
from streamkit.errors import TransportError
from streamkit.events import Retrying, Rewind, StreamEvent, StreamStart, TextDelta, Usage
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.json_codec import message_to_dict
from streamkit.message import Message
from streamkit.operators.retry import ResumeMode, RetryPolicy, retry_with_backoff

__all__ = ["Batch", "batch"]

#: A row's request body, built from the row.
RequestBuilder = Callable[[Any], Mapping[str, Any]]
#: Extra JSON-ready fields kept in a row's record (e.g. the input columns).
MetaBuilder = Callable[[Any], Mapping[str, Any] | None]

_DONE: Final = object()  # a worker has no more rows


class _StoredPartialError(TransportError):
    """Stands for the crash that cut a stored partial answer: the retry layer continues it."""

    retry_after = 0.0  # continue at once


class Batch:
    """One run of ``batch``: iterate it for results as rows finish, or ``await collect()``.

    A ``Batch`` runs once. ``summary`` is updated live as rows finish (for progress displays)
    and holds the totals afterwards. See ``batch`` for the arguments.
    """

    def __init__(
        self,
        rows: Iterable[Any] | AsyncIterable[Any],
        *,
        request: RequestBuilder,
        endpoint: ChatEndpoint,
        key: KeySpec,
        store: StrPath | ResultStore | None,
        concurrency: int,
        limiter: RateLimiter | None,
        retry: RetryPolicy | None,
        resume: ResumeMode,
        store_partials: bool,
        partial_interval: float,
        errors: Literal["record", "raise"],
        budget: Budget | None,
        validate: Validator | None,
        max_reasks: int,
        meta: MetaBuilder | None,
        on_result: Callable[[RowResult, BatchSummary], None] | None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if errors not in ("record", "raise"):
            raise ValueError(f"errors must be 'record' or 'raise', got {errors!r}")
        if store_partials and store is None:
            raise ValueError("store_partials needs a store")
        if partial_interval <= 0:
            raise ValueError(f"partial_interval must be positive, got {partial_interval}")
        if max_reasks < 0:
            raise ValueError(f"max_reasks must not be negative, got {max_reasks}")
        if not isinstance(endpoint, ChatEndpoint):
            raise TypeError(f"endpoint must be a ChatEndpoint, got {type(endpoint).__name__}")
        self._rows = rows
        self._request = request
        self._endpoint = endpoint
        self._key = key
        self._store_spec = store
        self._concurrency = concurrency
        self.limiter = limiter or RateLimiter()
        self._retry = retry
        self._resume: ResumeMode = resume
        self._store_partials = store_partials
        self._partial_interval = partial_interval
        self._errors = errors
        self._budget = budget
        self._validate = validate
        self._max_reasks = max_reasks
        self._meta = meta
        self._on_result = on_result
        self._started = False
        self._ended = False
        self._stopping = False
        self._next_index = 0
        self._store: ResultStore | None = None
        self._t0 = 0.0
        #: The run's counts and totals, updated live.
        self.summary = BatchSummary()

    def __aiter__(self) -> AsyncIterator[RowResult]:
        return self._run()

    async def collect(self) -> list[RowResult]:
        """Run to the end and return every row's result in input order.

        This keeps every result in memory; iterate instead for flat memory.
        """
        results = [result async for result in self]
        results.sort(key=lambda result: result.index)
        return results

    async def run(self) -> BatchSummary:
        """Run to the end, keeping nothing (the store has the results); return the summary."""
        async for _ in self:
            pass
        return self.summary

    def progress(self) -> BatchSummary:
        """The live summary, its clock and pause brought up to now (for progress displays)."""
        if self._started and not self._ended:
            self._tick()
        return self.summary

    # -- the run ---------------------------------------------------------------------------

    async def _run(self) -> AsyncIterator[RowResult]:
        if self._started:
            raise RuntimeError("a Batch runs once; call batch(...) again for another run")
        self._started = True
        self._t0 = time.monotonic()
        owned_store = self._store_spec is not None and not _is_store(self._store_spec)
        self._store = (
            open_store(self._store_spec, index_appends=False)
            if self._store_spec is not None
            else None
        )
        session: aiohttp.ClientSession | None = None
        endpoint = self._endpoint
        if endpoint.session is None:
            session = _session(self._concurrency, self.limiter)
            endpoint = dataclasses.replace(endpoint, session=session)
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self._concurrency)
        rows = aiter_rows(self._rows)
        pull = asyncio.Lock()
        workers = [
            asyncio.ensure_future(self._worker(rows, pull, endpoint, queue))
            for _ in range(self._concurrency)
        ]
        try:
            running = len(workers)
            while running:
                item = await queue.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            self._stopping = True
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await rows.aclose()  # type: ignore[attr-defined]
            if session is not None:
                await session.close()
            if owned_store and self._store is not None:
                self._store.close()
            self._tick()
            self._ended = True

    async def _worker(
        self,
        rows: AsyncIterator[Any],
        pull: asyncio.Lock,
        endpoint: ChatEndpoint,
        queue: asyncio.Queue[Any],
    ) -> None:
        try:
            while not self._stopping:
                async with pull:  # an async generator must not be advanced twice at once
                    if self._stopping:
                        break
                    try:
                        row = await anext(rows)
                    except StopAsyncIteration:
                        break
                    index = self._next_index
                    self._next_index += 1
                result = await self._process(index, row, endpoint)
                if result is None:
                    break
                await queue.put(result)
        except Exception as exc:  # a request builder, key or store failure: the run stops
            self._stopping = True
            await queue.put(exc)
        await queue.put(_DONE)

    def _tick(self) -> None:
        summary = self.summary
        summary.elapsed = time.monotonic() - self._t0
        summary.paused = self.limiter.paused_seconds
        summary.paused_for = self.limiter.paused_for()

    def _over_budget(self) -> bool:
        budget, summary = self._budget, self.summary
        if budget is None:
            return False
        if budget.tokens is not None and summary.tokens >= budget.tokens:
            return True
        return budget.cost is not None and summary.cost >= budget.cost

    def _finish(self, result: RowResult) -> RowResult:
        summary = self.summary
        if result.status == "done":
            summary.done += 1
        elif result.status == "skipped":
            summary.skipped += 1
        else:
            summary.failed += 1
        self._tick()
        if self._on_result is not None:
            self._on_result(result, summary)
        return result

    async def _process(self, index: int, row: Any, endpoint: ChatEndpoint) -> RowResult | None:
        key = row_key(row, self._key)
        try:
            body = dict(self._request(row))
        except Exception as exc:  # one bad row must not end the run: it is a failed row
            return self._unbuildable(index, key, row, exc)
        fmt = endpoint.wire_format
        fingerprint = request_hash(body, format=fmt.name)
        store = self._store
        if store is not None and store.is_done(key, fingerprint):
            record = store.get(key) or {}
            return self._finish(RowResult(index, key, "skipped", record, row))
        if self._over_budget():
            self._stopping = True
            self.summary.stopped = "budget"
            return None
        partial = store.partial(key, fingerprint) if store is not None else None
        self.summary.in_flight += 1
        try:
            result = await self._ask(index, key, row, body, fingerprint, partial, endpoint)
        finally:
            self.summary.in_flight -= 1
        if result.status == "failed" and self._errors == "raise":
            self._finish(result)
            self._stopping = True
            self.summary.stopped = "failure"
            assert result.error is not None
            raise result.error
        return self._finish(result)

    def _unbuildable(self, index: int, key: str, row: Any, error: Exception) -> RowResult:
        """A row whose request could not be built: recorded as failed (or raised)."""
        if self._errors == "raise":
            raise error
        record: dict[str, Any] = {
            "key": key,
            "request_hash": "",
            "status": "failed",
            "text": "",
            "message": None,
            "error": error_record(error),
            "usage": None,
            "timing": None,
            "attempts": 0,
            "meta": None,
        }
        if self._store is not None:
            self._store.append(record)
        return self._finish(RowResult(index, key, "failed", record, row, error))

    async def _ask(
        self,
        index: int,
        key: str,
        row: Any,
        body: dict[str, Any],
        fingerprint: str,
        partial: StoredPartial | None,
        endpoint: ChatEndpoint,
    ) -> RowResult:
        meter = _RowMeter(time.monotonic())
        asked = body
        value: Any = None
        error: BaseException | None = None
        message: Message | None = None
        for ask in range(self._max_reasks + 1):
            try:
                message = await self._stream(key, asked, fingerprint, partial, endpoint, meter)
            except Exception as exc:
                error = exc
                break
            partial = None  # a stored partial seeds the first ask only
            if self._validate is None:
                break
            try:
                value = self._validate(message)
            except Exception as exc:  # the validator's own words go back to the model
                error = exc
                if ask < self._max_reasks:
                    asked = _reask(body, asked, message, exc)
                continue
            error = None
            break
        self._account(meter, body)
        record: dict[str, Any] = {
            "key": key,
            "request_hash": fingerprint,
            "status": "failed" if error is not None else "done",
            "text": message.text if message is not None and error is None else "",
            "message": message_to_dict(message) if message is not None else None,
            "error": error_record(error) if error is not None else None,
            "usage": {"input_tokens": meter.input_tokens, "output_tokens": meter.output_tokens},
            "timing": meter.timing(time.monotonic()),
            "attempts": meter.attempts,
            "meta": self._meta(row) if self._meta is not None else None,
        }
        if value is not None:
            record["value"] = _jsonable(value)
        if self._store is not None:
            self._store.append(record)
        status: Literal["done", "failed"] = "failed" if error is not None else "done"
        return RowResult(index, key, status, record, row, error, value)

    def _account(self, meter: _RowMeter, body: Mapping[str, Any]) -> None:
        summary = self.summary
        summary.input_tokens += meter.input_tokens
        summary.output_tokens += meter.output_tokens
        summary.retries += max(0, meter.attempts - 1)
        if self._budget is not None:
            price = self._budget.prices.get(str(body.get("model", "")))
            if price is not None:
                summary.cost += price.cost(meter.input_tokens, meter.output_tokens)

    async def _stream(
        self,
        key: str,
        body: Mapping[str, Any],
        fingerprint: str,
        partial: StoredPartial | None,
        endpoint: ChatEndpoint,
        meter: _RowMeter,
    ) -> Message:
        events = self._events(body, partial, endpoint)
        # Folded as events arrive, so a row in flight holds its text, not its events.
        fold = _MessageFold()
        meter_step = meter.step
        if self._store_partials and self._store is not None:
            saver = _PartialSaver(self._store, key, fingerprint, self._partial_interval)

            def step(event: StreamEvent) -> None:
                fold.step(event)
                meter_step(event)
                saver.step(event)

        else:

            def step(event: StreamEvent) -> None:
                fold.step(event)
                meter_step(event)

        # In the subscription's own callback: an async iterator (or another operator) per
        # event would cost more than the batch layer itself.
        await _fold(events, step)
        meter.end_attempt()
        return fold.state.build()

    def _events(
        self, body: Mapping[str, Any], partial: StoredPartial | None, endpoint: ChatEndpoint
    ) -> Observable[StreamEvent]:
        fmt = endpoint.wire_format
        gate = rate_limited(self.limiter, tokens=estimate_request_tokens(body))
        first: Observable[StreamEvent] = endpoint.stream(body).pipe(gate)
        policy = self._retry
        resume = self._resume
        if partial is not None and partial.text:
            # Replay the saved text, then "fail": the retry layer continues it with the
            # format's continuation request, exactly as after a broken connection.
            first = reactivex.concat(
                reactivex.of(
                    StreamStart(id=partial.id, model=partial.model), TextDelta(partial.text)
                ),
                reactivex.throw(_StoredPartialError("continuing a stored partial answer")),
            )
            policy = _with_stored_partial(policy)
            resume = "continue"
        if policy is None:
            return first

        def continuation(text: str) -> Observable[StreamEvent]:
            return endpoint.stream(fmt.continuation_body(body, text)).pipe(gate)

        return first.pipe(
            retry_with_backoff(
                policy,
                resume=resume,
                continuation=continuation,
                carried=fmt.continuation_prefix,
            )
        )


async def _fold(events: Observable[StreamEvent], step: Callable[[StreamEvent], None]) -> None:
    """Subscribe, call ``step`` with every event, and return when the stream completes.

    Cancelling the await disposes the subscription (closing its connection); the stream's
    error is raised.
    """
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_error(error: Exception) -> None:
        if not done.done():
            done.set_exception(error)

    def on_completed() -> None:
        if not done.done():
            done.set_result(None)

    subscription = events.subscribe(step, on_error, on_completed)
    try:
        await done
    finally:
        subscription.dispose()


def _with_stored_partial(policy: RetryPolicy | None) -> RetryPolicy:
    """The row's policy, plus one attempt that continues the stored partial answer."""
    if policy is None:
        return RetryPolicy(max_attempts=2, retryable=_is_stored_partial)
    retryable = policy.retryable
    return dataclasses.replace(
        policy,
        max_attempts=policy.max_attempts + 1,
        retryable=lambda error: _is_stored_partial(error) or retryable(error),
    )


def _is_stored_partial(error: BaseException) -> bool:
    return isinstance(error, _StoredPartialError)


def _reask(
    original: Mapping[str, Any], asked: Mapping[str, Any], answer: Message, error: BaseException
) -> dict[str, Any]:
    """The request that shows the model its invalid answer and why, and asks again."""
    messages = [
        *asked.get("messages", original.get("messages", ())),
        {"role": "assistant", "content": answer.text or "(no text)"},
        {
            "role": "user",
            "content": f"That answer is not valid: {error}. Answer again, correcting it; "
            "reply with the corrected answer only.",
        },
    ]
    return {**original, "messages": messages}


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


class _MessageFold:
    """The final message, folded one event at a time (tool calls with bad JSON are kept)."""

    def __init__(self) -> None:
        self.state = MessageBuilder(invalid="emit")

    def step(self, event: StreamEvent) -> None:
        self.state = accumulate(self.state, event)


class _RowMeter:
    """Per-row timing and token counts over every attempt (a pure reducer of events)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first_token: float | None = None
        self.attempts = 1
        self.input_tokens = 0
        self.output_tokens = 0
        self._usage: dict[str, int] = {}
        self._stored_replay = True

    def step(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):  # by far the most frequent: checked first
            if self.first_token is None and event.received_at:
                self.first_token = event.received_at
        elif isinstance(event, Usage):
            if event.input_tokens is not None:
                self._usage["input"] = event.input_tokens
            if event.output_tokens is not None:
                self._usage["output"] = event.output_tokens
        elif isinstance(event, Retrying):
            self.end_attempt()
            if not _is_stored_partial(event.cause):
                self.attempts += 1

    def end_attempt(self) -> None:
        """Add the finished attempt's usage: each attempt was paid for."""
        self.input_tokens += self._usage.get("input", 0)
        self.output_tokens += self._usage.get("output", 0)
        self._usage = {}

    def timing(self, now: float) -> dict[str, float | None]:
        seconds = now - self.started
        ttft = self.first_token - self.started if self.first_token is not None else None
        generating = now - self.first_token if self.first_token is not None else 0.0
        rate = self.output_tokens / generating if generating > 0 else None
        return {
            "ttft": _round(ttft),
            "seconds": _round(seconds),
            "tokens_per_s": _round(rate),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class _PartialSaver:
    """Saves the text delivered so far every ``interval`` seconds, as ``partial`` records.

    Each record carries only the text added since the previous save and where it starts; a
    ``Rewind`` (the answer restarted differently) starts a new chain at 0.
    """

    def __init__(self, store: ResultStore, key: str, fingerprint: str, interval: float) -> None:
        self._store = store
        self._key = key
        self._fingerprint = fingerprint
        self._interval = interval
        self._unsaved: list[str] = []
        self._saved_length = 0
        self._last = time.monotonic()
        self._id = ""
        self._model = ""

    def step(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            if event.choice != 0:
                return
            self._unsaved.append(event.text)
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._save(now)
        elif isinstance(event, StreamStart) and event.choice == 0:
            self._id = self._id or event.id
            self._model = self._model or event.model
        elif isinstance(event, Rewind):
            self._unsaved, self._saved_length = [], 0

    def _save(self, now: float) -> None:
        text = "".join(self._unsaved)
        self._last = now
        if not text:
            return
        self._store.append(
            {
                "key": self._key,
                "request_hash": self._fingerprint,
                "status": "partial",
                "partial": {
                    "id": self._id,
                    "model": self._model,
                    "start": self._saved_length,
                    "text": text,
                },
            }
        )
        self._unsaved = []
        self._saved_length += len(text)


def _session(concurrency: int, limiter: RateLimiter) -> aiohttp.ClientSession:
    """A session for the run: ``concurrency`` connections, responses reported to the limiter."""

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        limiter.observe_response(params.response.status, params.response.headers)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(connector=connector, trace_configs=[trace])


def _is_store(value: object) -> bool:
    return not isinstance(value, str) and hasattr(value, "append")


def batch(
    rows: Iterable[Any] | AsyncIterable[Any],
    *,
    request: RequestBuilder,
    endpoint: ChatEndpoint,
    key: KeySpec = "id",
    store: StrPath | ResultStore | None = None,
    concurrency: int = 16,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    resume: ResumeMode = "continue",
    store_partials: bool = False,
    partial_interval: float = 1.0,
    errors: Literal["record", "raise"] = "record",
    budget: Budget | None = None,
    validate: Validator | None = None,
    max_reasks: int = 2,
    meta: MetaBuilder | None = None,
    on_result: Callable[[RowResult, BatchSummary], None] | None = None,
) -> Batch:
    """Ask one streamed question per row: keyed, resumable, rate-limited, with flat memory.

    Rows are pulled lazily from ``rows`` (any iterable or async iterable); at most
    ``concurrency`` are in flight, over one shared session and one ``limiter``. Each finished
    row is appended to ``store`` as it finishes, and a re-run with the same store skips the
    rows already done (whose request is unchanged) and asks only the rest.

    Iterate the returned ``Batch`` for ``RowResult`` values in completion order, ``await
    .collect()`` for them in input order, or ``await .run()`` to keep nothing but the store.

    Failures are rows: a row that fails after its retries is recorded with its error and the
    run goes on (``errors="raise"``: the first failure is recorded, then raised, and the run
    stops). Leaving the iteration early, or cancelling it, cancels the rows in flight (their
    connections close); rows not yet recorded are asked again by a re-run.

    Args:
        rows: the input rows.
        request: builds a row's request body (``model``, ``messages``, ``max_tokens``...).
        endpoint: where to ask; its ``session`` is used as is if set, else the run opens one
            sized to ``concurrency`` and closes it at the end.
        key: the field holding each row's stable key, or a function of the row.
        store: a path (``.parquet``: Parquet, else JSON Lines) or a ``ResultStore``.
        concurrency: the most rows in flight at once.
        limiter: the run's shared limits (requests/min, tokens/min, global pause); by default
            one with no rate limits that still pauses every stream after a 429.
        retry: the retry policy of each row (None: no retries).
        resume: how a retried stream resumes (see ``retry_with_backoff``).
        store_partials: save each running row's text every ``partial_interval`` seconds, so
            that after a crash the row is continued instead of asked again.
        partial_interval: seconds between saves of a row's partial text.
        errors: ``record`` failures as rows, or ``raise`` the first one.
        budget: stop starting rows past a token total or a cost.
        validate: a structured-output check of each answer (see ``streamkit.batch.structured``);
            an answer that fails it is asked again with the error shown, up to ``max_reasks``
            times, then recorded as a failure.
        max_reasks: how often an invalid answer is asked again.
        meta: extra JSON-ready fields to keep in each row's record.
        on_result: called with each result and the live summary (progress displays).

    Raises:
        ValueError: a bad option (at once); from the iteration: a row without its key.
        Exception: from the iteration, with ``errors="raise"``, the first row's failure.

    Example:
        >>> run = sk.batch(  # doctest: +SKIP
        ...     prompts,
        ...     key="id",
        ...     request=lambda row: {"model": "gpt-4o-mini", "max_tokens": 200,
        ...                          "messages": [{"role": "user", "content": row["prompt"]}]},
        ...     endpoint=sk.ChatEndpoint(url),
        ...     store="answers.jsonl",
        ...     limiter=RateLimiter(rpm=500, tpm=200_000),
        ...     retry=sk.RetryPolicy(),
        ... )
        >>> async for result in run:  # doctest: +SKIP
        ...     print(result.key, result.status, result.text[:40])
    """
    return Batch(
        rows,
        request=request,
        endpoint=endpoint,
        key=key,
        store=store,
        concurrency=concurrency,
        limiter=limiter,
        retry=retry,
        resume=resume,
        store_partials=store_partials,
        partial_interval=partial_interval,
        errors=errors,
        budget=budget,
        validate=validate,
        max_reasks=max_reasks,
        meta=meta,
        on_result=on_result,
    )
