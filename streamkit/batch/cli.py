"""``streamkit batch INPUT --output OUT``: a JSON Lines file of rows through ``sk.batch``.

Each input line is a JSON object with a ``prompt`` string or a full ``messages`` list, and an
optional ``id`` (else the row is keyed by its line number, ``line-7``); other fields are kept in
the record's ``meta``. Without ``--base-url`` the embedded server answers, as for ``streamkit
chat``. Re-running the same command resumes: rows already done are skipped, rows cut mid-answer
are continued (partials are stored unless ``--no-store-partials``).

Progress: a live line on a terminal, a plain line every ``--progress-every`` seconds otherwise,
and a last summary line on stderr: ``N done · N skipped · N failed · N tokens · ...``.

Exit codes: 0 every row done, 1 some row failed (or a budget stopped the run), 2 bad arguments
or input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final, TextIO

import orjson

from streamkit.batch.limiter import RateLimiter
from streamkit.batch.progress import format_progress
from streamkit.batch.results import Budget, format_summary
from streamkit.batch.runner import Batch, batch
from streamkit.client import ChatEndpoint
from streamkit.errors import StreamkitError
from streamkit.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from streamkit.operators.retry import RetryPolicy
from streamkit.server import EmbeddedServer, parse_faults

__all__ = ["add_batch_command", "input_rows", "row_request", "run"]

#: Redraws of the live line per second.
_LIVE_INTERVAL: Final = 0.2


class InputError(ValueError):
    """A line of the input file is not a usable row."""


def add_batch_command(commands: Any) -> argparse.ArgumentParser:
    """Add the ``batch`` subcommand to ``streamkit``'s subparsers; returns its parser.

    The parser's ``run`` default is ``run``: ``streamkit.cli`` calls ``args.run(args)``.
    """
    from streamkit.cli import DEFAULT_MODELS  # the CLI owns the defaults; it imports this module

    parser: argparse.ArgumentParser = commands.add_parser(
        "batch", help="answer every row of a JSONL file into a resumable result store"
    )
    parser.add_argument("input", metavar="INPUT", help="JSONL rows: prompt or messages, id")
    parser.add_argument("--output", "-o", required=True, help="the result store (.jsonl)")
    parser.add_argument("--format", choices=sorted(DEFAULT_MODELS), default="openai")
    parser.add_argument("--base-url", help="a real endpoint (default: the embedded server)")
    parser.add_argument("--model", help="model name (default depends on --format)")
    parser.add_argument("--system", help="a system prompt for every row")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rpm", type=float, help="requests per minute")
    parser.add_argument("--tpm", type=float, help="tokens per minute")
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--max-total-tokens", type=int, help="stop past this many")
    parser.add_argument(
        "--retry", action=argparse.BooleanOptionalAction, default=True, help="retry failures"
    )
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument(
        "--store-partials",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="save unfinished answers, so a crashed run continues them",
    )
    parser.add_argument("--partial-interval", type=float, default=1.0, metavar="S")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "--progress-every", type=float, default=5.0, metavar="S", help="plain progress lines"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="only the summary line")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="embedded server: tokens/s (0: no pacing)"
    )
    parser.add_argument("--fault", default="", help="embedded server: a fault for every request")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """Run the parsed ``batch`` command; returns the exit code."""
    stream = err or sys.stderr
    try:
        _check(args)
        return asyncio.run(_run(args, stream))
    except (InputError, _UsageError) as error:
        print(f"streamkit: error: {error}", file=stream, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (StreamkitError, OSError) as error:
        print(f"streamkit: error: {error}", file=stream, flush=True)
        return EXIT_FAILED


class _UsageError(Exception):
    pass


def _check(args: argparse.Namespace) -> None:
    for name in ("concurrency", "max_tokens", "max_attempts", "max_total_tokens"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise _UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    for name in ("rpm", "tpm", "partial_interval", "progress_every"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise _UsageError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.rate < 0:
        raise _UsageError(f"--rate must not be negative, got {args.rate}")
    if not os.path.isfile(args.input):
        raise _UsageError(f"INPUT {args.input!r} is not a file")
    if args.base_url and (args.fault or args.rate):
        raise _UsageError("--fault and --rate apply to the embedded server, not to --base-url")
    if args.fault:
        try:
            parse_faults(args.fault)
        except ValueError as error:
            raise _UsageError(str(error)) from None
    if args.base_url:
        try:
            ChatEndpoint(args.base_url)
        except ValueError as error:
            raise _UsageError(f"--base-url: {error}") from None


def input_rows(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL input file, read lazily, each with an ``id`` (``line-N`` if absent).

    Raises:
        InputError: a line is not a JSON object with a ``prompt`` string or a ``messages`` list.
    """
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}, line {number}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}, line {number}: not a JSON object")
            prompt, messages = row.get("prompt"), row.get("messages")
            if not isinstance(prompt, str) and not isinstance(messages, list):
                raise InputError(
                    f"{path}, line {number}: needs a 'prompt' string or a 'messages' list"
                )
            row.setdefault("id", f"line-{number}")
            yield row


def row_request(
    row: dict[str, Any], *, format: str, model: str | None, system: str | None, max_tokens: int
) -> dict[str, Any]:
    """The request body for one input row (``stream`` is added by the client)."""
    from streamkit.cli import DEFAULT_MODELS

    messages = row.get("messages")
    if not isinstance(messages, list):
        messages = [{"role": "user", "content": row["prompt"]}]
    body: dict[str, Any] = {"model": model or DEFAULT_MODELS[format], "max_tokens": max_tokens}
    if format == "anthropic":
        if system:
            body["system"] = system
    else:
        if system:
            messages = [{"role": "system", "content": system}, *messages]
        body["stream_options"] = {"include_usage": True}  # usage is what the budget counts
    body["messages"] = messages
    return body


def _count_rows(path: str) -> int:
    with open(path, "rb") as file:
        return sum(1 for line in file if line.strip())


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[ChatEndpoint]:
    if args.base_url:
        from streamkit.cli import resolve_api_key

        api_key = resolve_api_key(args.format, os.environ)
        yield ChatEndpoint(args.base_url, format=args.format, api_key=api_key)
        return
    async with EmbeddedServer(rate=args.rate, faults=args.fault) as server:
        yield ChatEndpoint(server.url, format=args.format)


async def _run(args: argparse.Namespace, err: TextIO) -> int:
    total = _count_rows(args.input)
    live = err.isatty() and not args.quiet
    limiter = RateLimiter(rpm=args.rpm, tpm=args.tpm)
    budget = Budget(tokens=args.max_total_tokens) if args.max_total_tokens else None
    async with _target(args) as endpoint:
        run_ = batch(
            input_rows(args.input),
            request=lambda row: row_request(
                row,
                format=args.format,
                model=args.model,
                system=args.system,
                max_tokens=args.max_tokens,
            ),
            endpoint=endpoint,
            key="id",
            store=args.output,
            concurrency=args.concurrency,
            limiter=limiter,
            retry=RetryPolicy(max_attempts=args.max_attempts) if args.retry else None,
            store_partials=args.store_partials,
            partial_interval=args.partial_interval,
            errors="raise" if args.fail_fast else "record",
            budget=budget,
            meta=_meta,
        )
        painter = asyncio.ensure_future(
            _paint(run_, total, err, live=live, every=args.progress_every, quiet=args.quiet)
        )
        try:
            await run_.run()
        except StreamkitError as error:  # --fail-fast: the failure was recorded, then raised
            print(f"\nstreamkit: error: {error}", file=err)
        finally:
            painter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await painter
        summary = run_.summary
        if live:
            err.write("\r\x1b[K")
        print(format_summary(summary), file=err, flush=True)
    return EXIT_OK if summary.failed == 0 and summary.stopped is None else EXIT_FAILED


def _meta(row: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: v for k, v in row.items() if k not in ("id", "prompt", "messages")}
    return kept or None


async def _paint(
    run: Batch, total: int, err: TextIO, *, live: bool, every: float, quiet: bool
) -> None:
    """Draw progress until cancelled: one rewritten line on a terminal, else plain lines."""
    if quiet:
        return
    while True:
        await asyncio.sleep(_LIVE_INTERVAL if live else every)
        line = format_progress(run.progress(), total)
        if live:
            err.write(f"\r\x1b[K{line}")
            err.flush()
        else:
            print(line, file=err, flush=True)
