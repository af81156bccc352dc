"""``streamkit web``: serve the chat page until Ctrl-C.

Registered by ``streamkit.cli`` with ``add_web_command``; everything else about the subcommand
lives here, so the CLI module only routes to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, Final, get_args

from streamkit.formats import FormatName
from streamkit.server import parse_faults
from streamkit.web.app import WebChat

__all__ = ["DEFAULT_PORT", "add_web_command", "run_web"]

DEFAULT_PORT: Final = 8080


def add_web_command(commands: Any) -> None:
    """Add the ``web`` subcommand to the ``streamkit`` parser's subparsers (``commands``)."""
    from streamkit.cli import DEMO_RATE  # the CLI owns the demo pace; it imports this module

    web = commands.add_parser("web", help="serve a chat page on 127.0.0.1 until Ctrl-C")
    web.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    web.add_argument("--base-url", help="a real chat API (default: the embedded server)")
    web.add_argument("--format", choices=get_args(FormatName), default="openai")
    web.add_argument("--model", help="model name (default depends on --format)")
    web.add_argument("--max-tokens", type=int, default=1024)
    web.add_argument(
        "--rate", type=float, default=DEMO_RATE, help="embedded server only: tokens per second"
    )
    web.add_argument(
        "--fault",
        default="",
        help="embedded server only: a fault for each answer, e.g. 'disconnect-after=20; "
        "first-attempts=1' shows a retry",
    )
    web.add_argument(
        "--tool-calls", type=int, default=0, help="embedded server only: demo tool calls per answer"
    )
    web.set_defaults(run=run_web)


def run_web(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit code (1 when the port cannot be used)."""
    # Imported here: the CLI module imports this one, and owns the key and model defaults.
    from streamkit.cli import DEFAULT_MODELS, DEMO_RATE, resolve_api_key

    embedded_only = args.fault or args.tool_calls or args.rate != DEMO_RATE
    if args.base_url and embedded_only:
        print(
            "streamkit: error: --fault, --rate and --tool-calls apply to the embedded server,"
            " not to --base-url",
            file=sys.stderr,
        )
        return 2
    if args.fault:
        try:
            parse_faults(args.fault)
        except ValueError as error:
            print(f"streamkit: error: {error}", file=sys.stderr)
            return 2
    api_key = None
    if args.base_url:
        api_key = resolve_api_key(args.format, os.environ)
    model = args.model or (DEFAULT_MODELS[args.format] if args.base_url else "streamkit-echo")
    try:
        chat = WebChat(
            port=args.port,
            base_url=args.base_url,
            format=args.format,
            model=model,
            api_key=api_key,
            max_tokens=args.max_tokens,
            rate=args.rate,
            fault=args.fault,
            tool_calls=args.tool_calls,
        )
    except ValueError as error:
        print(f"streamkit: error: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(chat))
    except KeyboardInterrupt:
        return 130


async def _serve(chat: WebChat) -> int:
    try:
        await chat.start()
    except OSError as error:
        print(f"streamkit: error: cannot serve the chat page: {error.strerror}", file=sys.stderr)
        return 1
    try:
        print(f"streamkit: chat page on {chat.url} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()
    finally:
        await chat.aclose()
    return 0
