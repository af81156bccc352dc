"""The ``streamkit`` command: ``streamkit chat`` streams an answer, ``streamkit serve`` runs the
embedded LLM server.

Without ``--base-url``, ``chat`` starts the embedded server in-process, so it runs with no network
and no key. With ``--base-url`` the key comes from ``STREAMKIT_API_KEY``, else ``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY`` or ``GEMINI_API_KEY`` by format. The default model of each format can be
set in the environment (``STREAMKIT_OPENAI_MODEL``, ``STREAMKIT_ANTHROPIC_MODEL``, ...).

Retrying is off by default, as in the library (``retry=`` is opt-in); ``--retry`` turns it on.
On a terminal, ``chat`` shows a live status line on stderr (tokens, tok/s, elapsed, retries;
the ``cli`` extra, rich); when stderr is not a terminal there is none.

Subcommands: each is a ``_add_<name>(commands)`` function that adds its parser and sets
``run``, an async function of the parsed arguments returning the exit code; adding one is one
line in ``build_parser``.

Exit codes: 0 success, 1 the stream failed (HTTP error, timeout, lost connection, bad stream),
2 bad arguments, 130 interrupted. Failures print one line, ``streamkit: error: ...``, no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, TextIO

import orjson

from streamkit import __version__
from streamkit.batch.cli import add_batch_command
from streamkit.client import ChatEndpoint
from streamkit.errors import APIStatusError, StreamkitError, StreamTimeoutError
from streamkit.events import Retrying
from streamkit.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from streamkit.extras import DISTRIBUTION
from streamkit.formats import get_format
from streamkit.operators.retry import DEFAULT_RESUME, RESUME_MODES, RetryPolicy
from streamkit.record import Recorder
from streamkit.server import FAULT_HEADER, EmbeddedServer, ServerLimits, parse_faults
from streamkit.sinks.console import ConsoleWriter
from streamkit.sinks.status_line import StatusLine
from streamkit.stats import format_stats
from streamkit.transport import Timeouts
from streamkit.web.command import add_web_command

__all__ = [
    "DEFAULT_MODELS",
    "build_parser",
    "default_model",
    "main",
    "request_body",
    "resolve_api_key",
]

#: The model each format asks for unless ``--model`` or ``STREAMKIT_<FORMAT>_MODEL`` says
#: otherwise: current models (claude-sonnet-4-5 retired on 2026-11-30, gpt-4o-mini retires on
#: 2027-01-14), which the environment overrides without a release when these age too.
DEFAULT_MODELS: Final[Mapping[str, str]] = {
    "openai": "gpt-4.1-mini",
    "anthropic": "claude-sonnet-4-6",
    "responses": "gpt-4.1-mini",
    "gemini": "gemini-2.5-flash",
}
KEY_VARIABLES: Final[Mapping[str, str]] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "responses": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
#: Tokens per second of the embedded server under ``chat``: a realistic pace to watch.
DEMO_RATE: Final = 60.0


class _UsageError(Exception):
    """Arguments that parse but make no sense together."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default; options without one say so in their help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if action.default is None or action.default is argparse.SUPPRESS:
            return help_text
        if "%(default)" in help_text or "default:" in help_text:
            return help_text
        return help_text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``streamkit`` command."""
    parser = argparse.ArgumentParser(
        prog="streamkit",
        description="Stream LLM answers; run the embedded LLM server.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"{DISTRIBUTION} {__version__} (import streamkit)",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_chat(commands)
    _add_serve(commands)
    add_web_command(commands)
    add_batch_command(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="run the embedded LLM server until Ctrl-C", formatter_class=_HelpFormatter
    )
    serve.set_defaults(run=_serve)
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    serve.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    serve.add_argument(
        "--rate", type=_non_negative, default=DEMO_RATE, help="tokens per second (0: no pacing)"
    )
    serve.add_argument(
        "--api-key-env", metavar="VAR", help="require the key in this variable (default: none)"
    )
    serve.add_argument(
        "--fault", default="", help="default fault spec, e.g. 'disconnect-after=5' (default: none)"
    )
    limits = ServerLimits()
    serve.add_argument(
        "--header-timeout",
        type=_positive,
        default=limits.header_timeout,
        metavar="S",
        help=f"close a client slower with its headers (default {limits.header_timeout:g})",
    )
    serve.add_argument(
        "--keepalive-timeout",
        type=_positive,
        default=limits.keepalive_timeout,
        metavar="S",
        help=f"close an idle connection after S seconds (default {limits.keepalive_timeout:g})",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive_int,
        default=limits.max_connections,
        metavar="N",
        help=f"serve at most N connections at once (default {limits.max_connections})",
    )


def _add_chat(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = commands.add_parser(
        "chat", help="stream one answer to the terminal", formatter_class=_HelpFormatter
    )
    chat.set_defaults(run=_run_chat)
    chat.add_argument("prompt", help="the user message; '-' reads it from stdin")
    chat.add_argument(
        "--format", choices=sorted(DEFAULT_MODELS), default="openai", help="wire format"
    )
    chat.add_argument(
        "--base-url",
        help="a real endpoint, e.g. https://api.openai.com (default: the embedded server)",
    )
    models = ", ".join(
        f"{name}: ${_model_variable(name)} or {model}" for name, model in DEFAULT_MODELS.items()
    )
    chat.add_argument("--model", help=f"model name (default: by format; {models})")
    chat.add_argument("--system", help="a system prompt (default: none)")
    chat.add_argument("--max-tokens", type=_positive_int, default=1024, help="answer length cap")
    chat.add_argument(
        "--rate",
        type=_non_negative,
        default=DEMO_RATE,
        help="embedded server only: tokens per second (0: no pacing)",
    )
    chat.add_argument(
        "--fault",
        default="",
        help="embedded server only: inject a fault, see the README (default: none)",
    )
    chat.add_argument(
        "--retry",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="retry failures with backoff and resume the answer "
        "(default: off, as in the library, where retry= is opt-in)",
    )
    chat.add_argument(
        "--resume", choices=RESUME_MODES, default=DEFAULT_RESUME, help="with --retry: how to resume"
    )
    chat.add_argument(
        "--max-attempts", type=_positive_int, default=5, help="with --retry: attempts in all"
    )
    chat.add_argument(
        "--connect-timeout", type=_positive, default=10.0, metavar="S", help="connect deadline"
    )
    chat.add_argument(
        "--first-token-timeout",
        type=_positive,
        default=60.0,
        metavar="S",
        help="deadline for the first token",
    )
    chat.add_argument(
        "--idle-timeout", type=_positive, default=30.0, metavar="S", help="deadline between reads"
    )
    chat.add_argument(
        "--content-idle-timeout",
        type=_positive,
        default=Timeouts().content_idle,
        metavar="S",
        help="deadline between pieces of the answer (keep-alives do not count)",
    )
    chat.add_argument(
        "--total-timeout",
        type=_positive,
        default=None,
        metavar="S",
        help="deadline for the whole answer (default: none)",
    )
    chat.add_argument(
        "--stats",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a summary line on stderr at the end (default: on)",
    )
    chat.add_argument(
        "--json",
        action="store_true",
        help="print the final message as JSON instead of text (default: off)",
    )
    chat.add_argument(
        "--record", metavar="PATH", help="record the raw stream for replay (default: off)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # A command's ``run`` gives the exit code, or a coroutine giving it (``web`` and ``batch``
    # run their own loop).
    run: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]] = args.run
    try:
        outcome = run(args)
        return outcome if isinstance(outcome, int) else asyncio.run(outcome)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep the interpreter's final
        # flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except _UsageError as error:
        parser.error(str(error))  # exits with 2
        raise AssertionError("unreachable") from None


def resolve_api_key(format_name: str, environ: Mapping[str, str]) -> str | None:
    """The API key for a real endpoint: ``STREAMKIT_API_KEY``, else the format's usual variable."""
    return environ.get("STREAMKIT_API_KEY") or environ.get(KEY_VARIABLES[format_name])


def _model_variable(format_name: str) -> str:
    return f"STREAMKIT_{format_name.upper()}_MODEL"


def default_model(format_name: str, environ: Mapping[str, str]) -> str:
    """The model used when ``--model`` is not given: ``STREAMKIT_<FORMAT>_MODEL``, else ours."""
    return environ.get(_model_variable(format_name)) or DEFAULT_MODELS[format_name]


def request_body(
    format_name: str,
    prompt: str,
    *,
    model: str | None,
    system: str | None,
    max_tokens: int,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The provider's request body for one user prompt (``stream`` is added by the client)."""
    model = model or default_model(format_name, os.environ if environ is None else environ)
    return get_format(format_name).prompt_body(
        prompt, model=model, system=system, max_tokens=max_tokens
    )


async def _run_chat(args: argparse.Namespace) -> int:
    return await _chat(args, sys.stdout, sys.stderr)


async def _chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise _UsageError("the prompt is empty")
    if args.base_url and (args.fault or args.rate != DEMO_RATE):
        raise _UsageError("--fault and --rate apply to the embedded server, not to --base-url")
    if args.fault:
        try:
            parse_faults(args.fault)
        except ValueError as error:
            raise _UsageError(str(error)) from None
    body = request_body(
        args.format, prompt, model=args.model, system=args.system, max_tokens=args.max_tokens
    )
    timeouts = Timeouts(
        connect=args.connect_timeout,
        first_token=args.first_token_timeout,
        content_idle=args.content_idle_timeout,
        idle=args.idle_timeout,
        total=args.total_timeout,
    )
    if args.base_url:
        if "://" not in args.base_url:
            raise _UsageError(
                f"--base-url needs a scheme: http://{args.base_url} or https://{args.base_url}"
            )
        try:
            ChatEndpoint(args.base_url)
        except ValueError as error:
            raise _UsageError(f"--base-url: {error}") from None
    try:
        async with _target(args) as (base_url, api_key, headers):
            endpoint = ChatEndpoint(
                base_url, format=args.format, api_key=api_key, headers=headers, timeouts=timeouts
            )
            return await _stream(endpoint, body, args, out, err)
    except BrokenPipeError:
        raise
    except (StreamkitError, OSError) as error:
        print(f"streamkit: error: {_explain(error, args)}", file=err, flush=True)
        return EXIT_FAILED


def _explain(error: BaseException, args: argparse.Namespace, *, tokens: int = 0) -> str:
    """The error line's text: the error, and what the user can do about it."""
    if isinstance(error, StreamTimeoutError) and error.phase == "total" and tokens:
        return (
            f"the total timeout ({args.total_timeout:g} s) ran out after {tokens} tokens: "
            "the answer above is incomplete (raise --total-timeout)"
        )
    hint = ""
    if not args.retry and getattr(error, "retryable", False):
        hint = " (retry is off: --retry retries and resumes the answer)"
    return f"{error}{hint}"


@contextlib.asynccontextmanager
async def _target(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[str, str | None, dict[str, str]]]:
    if args.base_url:
        yield args.base_url, resolve_api_key(args.format, os.environ), {}
        return
    async with EmbeddedServer(rate=args.rate) as server:
        yield server.url, None, {FAULT_HEADER: args.fault} if args.fault else {}


async def _stream(
    endpoint: ChatEndpoint,
    body: dict[str, Any],
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    recorder = Recorder(args.record) if args.record else None
    policy = RetryPolicy(max_attempts=args.max_attempts) if args.retry else None
    stream = endpoint.open(body, retry=policy, resume=args.resume, tap=recorder)
    status = None if args.json else StatusLine.open(err, out, lambda: stream.stats)
    writer = ConsoleWriter(status.answer if status is not None else out)
    failure: StreamkitError | OSError | None = None
    try:
        async with stream:
            async for event in stream:
                if isinstance(event, Retrying):
                    line = f"[attempt {event.attempt} in {event.delay:.2f} s after "
                    line += f"{_short_cause(event.cause)}]"
                    # Never a line break in the answer itself: stdout stays the exact text.
                    if status is not None:
                        status.retries += 1
                        status.notice(line)
                    else:
                        print("\n" + line, file=err, flush=True)
                elif not args.json:
                    writer.write(event)
                if status is not None:
                    status.tick()
        message = await stream
        if args.json:
            rendered = endpoint.wire_format.response_body(message)
            out.write(orjson.dumps(rendered, option=orjson.OPT_INDENT_2).decode() + "\n")
    except BrokenPipeError:
        raise
    except (StreamkitError, OSError) as error:
        failure = error
    finally:
        if not args.json:
            writer.end()
        if status is not None:
            status.close()
        if recorder is not None:
            recorder.close()
    if args.stats:
        print(format_stats(stream.stats), file=err, flush=True)
    if failure is not None:
        line = _explain(failure, args, tokens=stream.stats.tokens)
        print(f"streamkit: error: {line}", file=err, flush=True)
        return EXIT_FAILED
    return EXIT_OK


async def _serve(args: argparse.Namespace) -> int:
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise _UsageError(f"--api-key-env: the variable {args.api_key_env} is not set")
    if args.fault:
        try:
            parse_faults(args.fault)
        except ValueError as error:
            raise _UsageError(str(error)) from None
    try:
        server = EmbeddedServer(
            host=args.host,
            port=args.port,
            api_key=api_key,
            faults=args.fault,
            rate=args.rate,
            header_timeout=args.header_timeout,
            keepalive_timeout=args.keepalive_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as error:  # a host that is not loopback
        raise _UsageError(str(error)) from None
    try:
        await server.start()
    except OSError as error:
        print(
            f"streamkit: error: cannot listen on {args.host}:{args.port}: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"streamkit: serving on {server.url} (OpenAI: {server.url}/v1, Anthropic: {server.url})",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.aclose()
    return EXIT_OK


def _short_cause(error: BaseException) -> str:
    """What went wrong, in a few words: the error's type, and the status for HTTP errors."""
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status} {error.error_type or ''}".rstrip()
    return type(error).__name__


def _number(text: str, kind: type[float] | type[int]) -> float:
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from None


def _positive(text: str) -> float:
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value
