"""Many streams at once: bounded concurrency, a progress bar, results kept in order.

``await gather_streams(factories, concurrency=8)`` runs one stream per factory, at most
``concurrency`` at a time, advances a ``tqdm`` bar as each one completes, optionally appends each
final message to a JSON Lines file as it arrives, and returns the messages in the factories'
order. For keyed, resumable, rate-limited runs over a dataset, ``sk.batch`` is the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TextIO, overload

from reactivex import Observable

from streamkit.events import StreamEvent
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.message import Message
from streamkit.sinks.collect import collect_message
from streamkit.sinks.jsonl import StrPath, append_jsonl, message_to_dict
from streamkit.sinks.progress_bar import ProgressBar, progress_bar

__all__ = ["StreamFactory", "gather_streams"]

#: Makes one stream; called once, when its turn comes.
StreamFactory = Callable[[], Observable[StreamEvent]]


@overload
async def gather_streams(
    factories: Iterable[StreamFactory] | Mapping[str, StreamFactory],
    *,
    concurrency: int = 4,
    progress: bool | ProgressBar = True,
    desc: str | None = None,
    file: TextIO | None = None,
    jsonl: StrPath | None = None,
    invalid: InvalidArguments = "raise",
    errors: Literal["raise"] = "raise",
) -> list[Message]: ...


@overload
async def gather_streams(
    factories: Iterable[StreamFactory] | Mapping[str, StreamFactory],
    *,
    concurrency: int = 4,
    progress: bool | ProgressBar = True,
    desc: str | None = None,
    file: TextIO | None = None,
    jsonl: StrPath | None = None,
    invalid: InvalidArguments = "raise",
    errors: Literal["return"],
) -> list[Message | Exception]: ...


async def gather_streams(
    factories: Iterable[StreamFactory] | Mapping[str, StreamFactory],
    *,
    concurrency: int = 4,
    progress: bool | ProgressBar = True,
    desc: str | None = None,
    file: TextIO | None = None,
    jsonl: StrPath | None = None,
    invalid: InvalidArguments = "raise",
    errors: Literal["raise", "return"] = "raise",
) -> list[Message] | list[Message | Exception]:
    """Run one stream per factory, ``concurrency`` at a time; return the messages in order.

    Each factory is called when its stream's turn comes, so requests are not made before a slot
    is free. The bar advances as each stream ends (failed ones too, with ``errors="return"``).
    With ``jsonl``, each result is appended to that file as soon as it is known, in completion
    order, as ``{"index": i, "message": {...}}`` (``message_to_dict``) or, for a failure,
    ``{"index": i, "error": {"type": ..., "message": ...}}``: a crash loses no finished work.
    Pass ``factories`` as a mapping from row keys to factories and each record also carries its
    ``"key"``, so records can be matched to rows across runs (``index`` is only the position in
    this call). For keyed, resumable, rate-limited runs over a dataset use ``sk.batch``.

    Args:
        factories: one per stream, or a mapping of row keys to them.
        concurrency: the most streams running at once (at least 1).
        progress: show a ``tqdm`` bar (True), none (False), or advance the bar given.
        desc: the bar's label.
        file: where a terminal bar is drawn.
        jsonl: a JSON Lines file the results are appended to.
        invalid: ``raise`` or ``emit`` for tool calls with invalid JSON, as for ``to_message``.
        errors: ``raise``: the first failure cancels the streams still running and is raised;
            ``return``: a failed stream's exception takes its place in the list.

    Raises:
        ValueError: ``concurrency`` is below 1.
        ImportError: ``progress=True`` and tqdm is not installed.
        Exception: with ``errors="raise"``, the first stream's error.

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> factories = [  # doctest: +SKIP
        ...     lambda p=p: sk.stream_chat(url, body_for(p)) for p in prompts
        ... ]
        >>> answers = await sinks.gather_streams(factories, jsonl="out.jsonl")  # doctest: +SKIP
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    keys: list[str] | None = None
    if isinstance(factories, Mapping):
        keys = [str(key) for key in factories]
        todo = list(factories.values())
    else:
        todo = list(factories)
    bar: ProgressBar | None
    owned = progress is True
    if progress is True:
        bar = progress_bar(len(todo), desc=desc, file=file)
    else:
        bar = progress or None
    slots = asyncio.Semaphore(concurrency)

    async def run(index: int, factory: StreamFactory) -> Message | Exception:
        async with slots:
            try:
                result: Message | Exception = await collect_message(factory(), invalid=invalid)
            except Exception as exc:
                if errors == "raise":
                    raise
                result = exc
        if jsonl is not None:
            record = _result_record(index, result)
            if keys is not None:
                record = {"key": keys[index], **record}
            append_jsonl(jsonl, record)
        if bar is not None:
            bar.update(1)
        return result

    tasks = [asyncio.ensure_future(run(i, factory)) for i, factory in enumerate(todo)]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if owned and bar is not None:
            bar.close()


def _result_record(index: int, result: Message | Exception) -> dict[str, Any]:
    if isinstance(result, Exception):
        return {"index": index, "error": {"type": type(result).__name__, "message": str(result)}}
    return {"index": index, "message": message_to_dict(result)}
