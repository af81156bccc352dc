"""The clients compared end to end, each run alone in a fresh process against ``bench.wire_server``.

``python -m bench.stream_clients CLIENT URL STREAMS CHUNKS [--paced RATE]`` opens ``STREAMS``
streams at once, each of ``CHUNKS`` text chunks, reads them all, checks that every chunk arrived,
and prints one JSON object: the CPU time of the reading (``time.process_time``; imports, start-up
and an untimed warm-up stream excluded), its wall time, the process's peak RSS and its RSS before
the run. With ``--paced`` the server sends ``RATE`` stamped chunks per second per stream, and the
object also holds the delivery delays (seconds from the server's write to the consumer's hands).

Every client reads the same bytes; what differs is how far it goes with them:

- ``floor``: aiohttp ``iter_any`` + ``split(b"\\n\\n")`` + ``orjson.loads``: no SSE rules, no model;
- ``httpx_sse``: httpx + httpx-sse (spec-exact SSE) + ``orjson.loads``: raw dicts, no model;
- ``openai_sdk`` / ``anthropic_sdk``: the official SDKs' streaming, typed pydantic models;
- ``streamkit``: ``stream_chat`` consumed by ``async for`` (``aiter_events``): typed events;
- ``streamkit_subscribe``: the same observable consumed by ``subscribe``, no bridge;
- ``streamkit_message``: ``stream_chat(...).pipe(to_message())``, awaited with ``collect``;
- ``streamkit_buffer``: ``.pipe(buffer_text(10, 0.1))`` consumed by ``async for``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.peak_rss import peak_rss_kib

__all__ = ["CLIENTS", "Delays", "main", "stamps"]

#: How long one benchmark process may take, whatever happens (every wait has a bound).
_DEADLINE = 600.0


@dataclass(slots=True)
class Delays:
    """What a paced run measured: one delay per chunk, and for ``buffer_text`` the lateness of each
    string beyond the window it was allowed to wait (see ``_lateness``)."""

    delays: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)

    def text(self, text: str, *, batch: int | None = None, window: float = 0.0) -> None:
        """Record a piece of text as it reaches the consumer (its stamps say when it was sent)."""
        now = time.monotonic()
        sent = stamps(text)
        self.delays.extend(now - t for t in sent)
        if batch is not None and sent:
            self.lateness.append(_lateness(now, sent, batch, window))


def stamps(text: str) -> list[float]:
    """The send times in a paced stream's text (``" <t> <t> ..."``)."""
    return [float(word) for word in text.split()]


def _lateness(now: float, sent: list[float], batch: int, window: float) -> float:
    """How much later than it had to a ``buffer_text(batch, window)`` string arrived.

    A full string may leave once its last piece arrived; a shorter one when the window that
    opened with its first piece closes (or earlier, when the stream ended). Its lateness is its
    delay beyond that moment, with the pieces' send times standing in for their arrival.
    """
    due = sent[-1] if len(sent) >= batch else min(sent[0] + window, now)
    return max(0.0, now - due)


# --- the clients: each reads its streams at once and returns how many text chunks it got ---

_Body = dict[str, Any]
_Run = Callable[[str, list[_Body], str, Delays | None], Awaitable[int]]


async def _floor(url: str, bodies: list[_Body], fmt: str, delays: Delays | None) -> int:
    import aiohttp
    import orjson

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(body: _Body) -> int:
            got = 0
            rest = b""
            async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                async for data in response.content.iter_any():
                    *events, rest = (rest + data).split(b"\n\n")
                    for event in events:
                        payload = event[6:]  # b"data: "
                        if payload == b"[DONE]":
                            continue
                        chunk = orjson.loads(payload)
                        for choice in chunk["choices"]:
                            text = choice["delta"].get("content")
                            if text:
                                got += 1
                                if delays is not None:
                                    delays.text(text)
            return got

        return sum(await asyncio.gather(*(one(body) for body in bodies)))


async def _httpx_sse(url: str, bodies: list[_Body], fmt: str, delays: Delays | None) -> int:
    import httpx
    import orjson
    from httpx_sse import aconnect_sse

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def one(body: _Body) -> int:
            got = 0
            path = f"{url}/v1/chat/completions"
            async with aconnect_sse(client, "POST", path, json=body) as source:
                async for sse in source.aiter_sse():
                    if sse.data == "[DONE]":
                        break
                    chunk = orjson.loads(sse.data)
                    for choice in chunk["choices"]:
                        text = choice["delta"].get("content")
                        if text:
                            got += 1
                            if delays is not None:
                                delays.text(text)
            return got

        return sum(await asyncio.gather(*(one(body) for body in bodies)))


async def _openai_sdk(url: str, bodies: list[_Body], fmt: str, delays: Delays | None) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    try:

        async def one(body: _Body) -> int:
            got = 0
            stream = await client.chat.completions.create(
                model=body["model"],
                messages=body["messages"],
                max_tokens=body["max_tokens"],
                stream=True,
            )
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        got += 1
                        if delays is not None:
                            delays.text(choice.delta.content)
            return got

        return sum(await asyncio.gather(*(one(body) for body in bodies)))
    finally:
        await client.close()


async def _anthropic_sdk(url: str, bodies: list[_Body], fmt: str, delays: Delays | None) -> int:
    import anthropic

    client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
    try:

        async def one(body: _Body) -> int:
            got = 0
            stream = await client.messages.create(
                model=body["model"],
                messages=body["messages"],
                max_tokens=body["max_tokens"],
                stream=True,
            )
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    if event.delta.text:
                        got += 1
                        if delays is not None:
                            delays.text(event.delta.text)
            return got

        return sum(await asyncio.gather(*(one(body) for body in bodies)))
    finally:
        await client.close()


def _streamkit(consume: str) -> _Run:
    async def run(url: str, bodies: list[_Body], fmt: str, delays: Delays | None) -> int:
        import aiohttp

        import streamkit as sk
        from streamkit import operators as ops
        from streamkit.formats import get_format

        wire_format = get_format(fmt)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            def events(body: _Body) -> Any:
                return sk.stream_chat(url, body, format=wire_format, api_key="x", session=session)

            async def by_iteration(body: _Body) -> int:
                got = 0
                async for event in sk.aiter_events(events(body)):
                    if isinstance(event, sk.TextDelta) and event.text:
                        got += 1
                        if delays is not None:
                            delays.text(event.text)
                return got

            async def by_subscribe(body: _Body) -> int:
                got = 0
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def on_next(event: Any) -> None:
                    nonlocal got
                    if isinstance(event, sk.TextDelta) and event.text:
                        got += 1
                        if delays is not None:
                            delays.text(event.text)

                def on_error(error: Exception) -> None:
                    if not done.done():
                        done.set_exception(error)

                def on_completed() -> None:
                    if not done.done():
                        done.set_result(None)

                subscription = events(body).subscribe(on_next, on_error, on_completed)
                try:
                    await done
                finally:
                    subscription.dispose()
                return got

            async def by_message(body: _Body) -> int:
                [message] = await sk.collect(events(body).pipe(ops.to_message()))
                return len(message.text.split()) if delays is None else 0

            async def by_buffer(body: _Body) -> int:
                pieces = 0
                async for text in sk.aiter_events(events(body).pipe(ops.buffer_text(10, 0.1))):
                    pieces += len(text.split(" ")) - 1  # every chunk's text starts with a space
                    if delays is not None:
                        delays.text(text, batch=10, window=0.1)
                return pieces

            one = {
                "iterate": by_iteration,
                "subscribe": by_subscribe,
                "message": by_message,
                "buffer": by_buffer,
            }[consume]
            return sum(await asyncio.gather(*(one(body) for body in bodies)))

    return run


#: Every client, by name: (what it does, which wire format it reads, how to run it).
CLIENTS: dict[str, tuple[str, str, _Run]] = {
    "floor": ("floor: aiohttp iter_any + split + orjson", "openai", _floor),
    "httpx_sse": ("httpx-sse + orjson (raw dicts)", "openai", _httpx_sse),
    "openai_sdk": ("openai SDK (AsyncOpenAI)", "openai", _openai_sdk),
    "streamkit": ("streamkit: typed events, async for", "openai", _streamkit("iterate")),
    "streamkit_subscribe": (
        "streamkit: typed events, subscribe (no bridge)",
        "openai",
        _streamkit("subscribe"),
    ),
    "streamkit_message": ("streamkit: to_message()", "openai", _streamkit("message")),
    "streamkit_buffer": (
        "streamkit: buffer_text(10, 0.1), async for",
        "openai",
        _streamkit("buffer"),
    ),
    "anthropic_sdk": (
        "Anthropic wire: anthropic SDK (AsyncAnthropic)",
        "anthropic",
        _anthropic_sdk,
    ),
    "streamkit_anthropic": (
        "Anthropic wire: streamkit typed events, async for",
        "anthropic",
        _streamkit("iterate"),
    ),
}


def _rss_kib() -> int:
    """The current resident set size, from /proc (ru_maxrss only knows the peak)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


async def _measure(
    client: str, url: str, streams: int, chunks: int, paced: float | None
) -> dict[str, Any]:
    _, fmt, run = CLIENTS[client]
    model = f"paced:{paced}" if paced else "bench"
    bodies = [
        {"model": model, "max_tokens": chunks, "messages": [{"role": "user", "content": str(i)}]}
        for i in range(streams)
    ]
    delays = Delays() if paced else None
    # A short stream first, untimed: imports, lazily built models and caches are start-up cost,
    # paid once per process, not per chunk.
    warm_up = {"model": "bench", "max_tokens": 10, "messages": [{"role": "user", "content": "-"}]}
    async with asyncio.timeout(_DEADLINE):
        await run(url, [warm_up], fmt, None)
    rss_before = _rss_kib()
    cpu, wall = time.process_time(), time.perf_counter()
    async with asyncio.timeout(_DEADLINE):
        got = await run(url, bodies, fmt, delays)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    expected = streams * chunks
    if client != "streamkit_message" or not paced:
        if got != expected:
            raise RuntimeError(f"{client} read {got} chunks, expected {expected}")
    result: dict[str, Any] = {
        "client": client,
        "chunks": expected,
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_before_kib": rss_before,
        "rss_peak_kib": peak_rss_kib(),
    }
    if delays is not None:
        result["delays"] = delays.delays
        result["lateness"] = delays.lateness
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run one client once and print its measurement as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.stream_clients")
    parser.add_argument("client", choices=list(CLIENTS))
    parser.add_argument("url")
    parser.add_argument("streams", type=int)
    parser.add_argument("chunks", type=int)
    parser.add_argument("--paced", type=float, default=None, metavar="RATE")
    args = parser.parse_args(argv)
    result = asyncio.run(_measure(args.client, args.url, args.streams, args.chunks, args.paced))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
