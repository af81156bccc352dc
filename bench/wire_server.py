"""A bare streaming server for client benchmarks: pre-encoded answers, written as fast as it can.

The embedded server (``streamkit.server``) builds every answer from a script, which costs it more
CPU than a fast client spends reading; to measure clients at 100k chunks a second the server must
do next to nothing. This one answers ``POST /v1/chat/completions`` (OpenAI chunks) and
``POST /v1/messages`` (Anthropic events) with a stream encoded once per shape by streamkit's own
encoders (``bench.data.encode_stream``), so every client, the SDKs included, reads real wire shapes.

The request body says what to send, through fields every SDK passes on unchanged:

- ``max_tokens``: how many text chunks the answer has;
- ``model``: ``"bench"`` writes the encoded stream in ``WRITE_SIZE`` slices, without pause;
  ``"paced:<rate>"`` writes one chunk every ``1/rate`` seconds, each chunk's text being
  `` <t>`` with ``t`` its send time on the monotonic clock (``time.monotonic()``, one clock for
  every process on the machine), so a client can tell how long the text took to reach its consumer.

``python -m bench.wire_server`` prints its URL on one line and serves until standard input closes;
``wire_server_in_subprocess()`` runs it so from a benchmark.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from aiohttp import web

from bench.data import answer_events, encode_stream
from streamkit.events import Finish, StreamStart, TextDelta, Usage
from streamkit.formats import FormatName
from streamkit.formats.anthropic import AnthropicEncoder
from streamkit.formats.openai import OpenAIEncoder

__all__ = ["WRITE_SIZE", "main", "paced_chunk", "wire_app", "wire_server_in_subprocess"]

#: Bytes per write of a fast stream: a few dozen chunks, as a busy server's writes coalesce.
WRITE_SIZE = 4096

_PATHS: dict[str, FormatName] = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}
_MARK = "\x00stamp\x00"


@functools.lru_cache(maxsize=32)
def _fast_stream(fmt: FormatName, chunks: int) -> tuple[bytes, ...]:
    data = encode_stream(answer_events(chunks), fmt)
    return tuple(data[i : i + WRITE_SIZE] for i in range(0, len(data), WRITE_SIZE))


@functools.lru_cache(maxsize=4)
def _paced_parts(fmt: FormatName, chunks: int) -> tuple[bytes, tuple[bytes, bytes], bytes]:
    """The stream's head, one text chunk cut around its stamp, and its tail."""
    encoder = OpenAIEncoder(created=1_700_000_000) if fmt == "openai" else AnthropicEncoder()
    head = encoder.encode(StreamStart(id="chatcmpl-bench", model="bench-model"))
    if fmt == "anthropic":  # its first text delta opens a content block: keep that in the head
        head += encoder.encode(TextDelta(""))
    before, _, after = encoder.encode(TextDelta(_MARK)).partition(orjson.dumps(_MARK)[1:-1])
    tail = encoder.encode(Finish("stop", raw_reason="stop"))
    tail += encoder.encode(Usage(input_tokens=12, output_tokens=chunks)) + encoder.finish()
    return head, (before, after), tail


def paced_chunk(parts: tuple[bytes, bytes], sent_at: float) -> bytes:
    """One text chunk whose text is `` <sent_at>``."""
    return b"%s %.6f%s" % (parts[0], sent_at, parts[1])


async def _handle(request: web.Request) -> web.StreamResponse:
    fmt = _PATHS[request.path]
    body = await request.json(loads=orjson.loads)
    chunks = int(body.get("max_tokens", 100))
    model = str(body.get("model", "bench"))
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    try:
        if model.startswith("paced:"):
            await _write_paced(response, fmt, chunks, float(model.split(":", 1)[1]))
        else:
            for piece in _fast_stream(fmt, chunks):
                await response.write(piece)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client left: a normal end for a benchmark
    return response


async def _write_paced(
    response: web.StreamResponse, fmt: FormatName, chunks: int, rate: float
) -> None:
    head, parts, tail = _paced_parts(fmt, chunks)
    await response.write(head)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(chunks):
        # Absolute send times: a late chunk does not delay the ones after it.
        delay = start + (i + 1) / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await response.write(paced_chunk(parts, time.monotonic()))
    await response.write(tail)


def wire_app() -> web.Application:
    """The application: both chat paths, nothing else."""
    app = web.Application()
    for path in _PATHS:
        app.router.add_post(path, _handle)
    return app


async def _serve() -> None:
    runner = web.AppRunner(wire_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        # A deep backlog: a thousand clients connect at once.
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = runner.addresses[0][1]
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()


@contextmanager
def wire_server_in_subprocess(*, timeout: float = 30.0) -> Iterator[str]:
    """Start the server in a child process and yield its root URL; stop it on exit.

    Raises:
        RuntimeError: the child did not report a URL.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.wire_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the server process did not start (said {url!r})")
        yield url
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def main() -> None:
    """Serve until standard input closes."""
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
