"""End to end against a bare server: client CPU per chunk, peak memory and delivery latency.

The server (``bench.wire_server``) runs in its own process and writes pre-encoded streams, so
next to nothing of its work is charged to the client; every client (``bench.stream_clients``)
runs in a fresh process of its own, once per shape, so no client inherits another's heap, caches
or imports. The floor, aiohttp ``iter_any`` + split + ``orjson``, reads the same bytes with no
SSE rules and no event model: what it costs is what reading the stream costs at all, and each
client's ratio to it, measured in the same run, is what to compare across machines.

Two tables: ``bench_clients`` (streams as fast as the server writes, CPU and memory) and
``bench_latency`` (paced streams whose chunks carry their send time: the delay until the text is
in the consumer's hands).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.results import Row, Table, ratio
from bench.stream_clients import CLIENTS
from bench.wire_server import wire_server_in_subprocess

__all__ = ["DEFAULT_CLIENTS", "LATENCY_CLIENTS", "bench_clients", "bench_latency", "run_client"]

#: The clients of the CPU and memory comparison, in report order (``floor`` is the baseline).
DEFAULT_CLIENTS = (
    "floor",
    "httpx_sse",
    "openai_sdk",
    "streamkit",
    "streamkit_subscribe",
    "streamkit_message",
    "streamkit_buffer",
    "anthropic_sdk",
    "streamkit_anthropic",
)
#: The clients of the latency measurement.
LATENCY_CLIENTS = ("floor", "streamkit", "streamkit_buffer")

_ROOT = Path(__file__).resolve().parent.parent
#: A client process that takes longer than this has hung; every wait in it has a bound anyway.
_PROCESS_TIMEOUT = 900.0


def run_client(
    client: str, url: str, streams: int, chunks: int, *, paced: float | None = None
) -> dict[str, Any]:
    """Run one client in a fresh process and return what it measured (see ``stream_clients``).

    Raises:
        RuntimeError: the client failed (its standard error is quoted).
    """
    command = [sys.executable, "-m", "bench.stream_clients", client, url, str(streams), str(chunks)]
    if paced is not None:
        command += ["--paced", str(paced)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=_PROCESS_TIMEOUT, cwd=_ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{client} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def bench_clients(
    *,
    shapes: Sequence[tuple[int, int]] = ((1, 100_000), (200, 500), (1000, 100)),
    clients: Sequence[str] = DEFAULT_CLIENTS,
    repeat: int = 1,
) -> Table:
    """CPU per chunk and peak RSS of each client at each shape (streams at once, chunks each).

    With ``repeat`` above 1 each client runs that many times per shape (interleaved with the
    others, each time in a fresh process) and the run with the least CPU is kept.
    """
    rows: list[Row] = []
    with wire_server_in_subprocess() as url:
        for streams, chunks in shapes:
            best: dict[str, dict[str, Any]] = {}
            for _ in range(repeat):
                for client in clients:
                    result = run_client(client, url, streams, chunks)
                    if client not in best or result["cpu_s"] < best[client]["cpu_s"]:
                        best[client] = result
            rows.extend(_shape_rows(streams, chunks, clients, best))
    return Table(
        name="clients",
        title="End to end: client CPU per chunk and peak memory, bare server in another process",
        columns=(
            "chunks",
            "CPU µs/chunk",
            "vs floor (x)",
            "wall s",
            "peak RSS MiB",
            "RSS growth MiB",
            "RSS vs floor (x)",
        ),
        rows=tuple(rows),
        baseline=CLIENTS["floor"][0],
        notes=(
            "shape = streams opened at once x text chunks per stream; the server writes each "
            "pre-encoded stream in 4 KiB writes, without pause, from its own process.",
            "CPU = the client process's user + system time while reading (imports and start-up "
            "excluded); vs floor = CPU per chunk relative to the floor at the same shape "
            "(below 1 is cheaper).",
            "peak RSS = the client process's high-water mark (imports included); RSS growth = "
            "peak minus the RSS just before the streams were opened.",
            "Anthropic wire rows read the same answers in Anthropic's format (fewer bytes per "
            "chunk); their ratio is still against the OpenAI-wire floor.",
        ),
    )


def _shape_rows(
    streams: int, chunks: int, clients: Sequence[str], best: dict[str, dict[str, Any]]
) -> list[Row]:
    floor = best.get("floor")
    floor_cpu = floor["cpu_s"] / floor["chunks"] if floor else None
    floor_rss = floor["rss_peak_kib"] if floor else None
    rows: list[Row] = []
    for client in clients:
        result = best[client]
        per_chunk = result["cpu_s"] / result["chunks"]
        rows.append(
            Row(
                f"{streams} x {chunks:,}: {CLIENTS[client][0]}",
                {
                    "chunks": result["chunks"],
                    "CPU µs/chunk": per_chunk * 1e6,
                    "vs floor (x)": ratio(per_chunk, floor_cpu),
                    "wall s": result["wall_s"],
                    "peak RSS MiB": result["rss_peak_kib"] / 1024,
                    "RSS growth MiB": max(0, result["rss_peak_kib"] - result["rss_before_kib"])
                    / 1024,
                    "RSS vs floor (x)": ratio(result["rss_peak_kib"], floor_rss),
                },
            )
        )
    return rows


def bench_latency(
    *,
    streams: int = 200,
    rate: float = 50.0,
    seconds: float = 10.0,
    clients: Sequence[str] = LATENCY_CLIENTS,
) -> Table:
    """Delivery delay of paced streams: ``streams`` at once, ``rate`` chunks a second each.

    Each chunk's text is its send time on the monotonic clock; each client records, as the text
    reaches its consumer, how long ago that was. For ``buffer_text(10, 0.1)`` the delay includes
    the up to 100 ms a piece may wait for its batch by design, so its row reports the lateness
    beyond that: how long after it was due (its batch full, or its window over) each string came.
    """
    chunks = max(1, round(rate * seconds))
    rows: list[Row] = []
    results: dict[str, dict[str, Any]] = {}
    with wire_server_in_subprocess() as url:
        for client in clients:
            results[client] = run_client(client, url, streams, chunks, paced=rate)
    floor_p99 = _percentile(results["floor"]["delays"], 99) if "floor" in results else None
    for client in clients:
        result = results[client]
        label = CLIENTS[client][0]
        samples = result["lateness"] if result.get("lateness") else result["delays"]
        if result.get("lateness"):
            label += ": lateness beyond its window"
        p99 = _percentile(samples, 99)
        rows.append(
            Row(
                label,
                {
                    "samples": len(samples),
                    "p50 ms": _percentile(samples, 50) * 1e3,
                    "p90 ms": _percentile(samples, 90) * 1e3,
                    "p99 ms": p99 * 1e3,
                    "max ms": max(samples) * 1e3,
                    "p99 vs floor (x)": ratio(p99, floor_p99),
                    "CPU s": result["cpu_s"],
                },
            )
        )
    return Table(
        name="latency",
        title=(
            f"Delivery latency: {streams} streams x {rate:g} chunks/s for {seconds:g} s, "
            "server send to consumer"
        ),
        columns=("samples", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 vs floor (x)", "CPU s"),
        rows=tuple(rows),
        baseline=CLIENTS["floor"][0],
        notes=(
            "delay = time.monotonic() when the text reaches the consumer minus the send time the "
            "server wrote into it (one clock for both processes).",
            "buffer_text(10, 0.1): a string is due when its tenth piece was sent, or 100 ms after "
            "its first; lateness = arrival minus that (p99 vs floor compares it with the floor's "
            "whole delay).",
        ),
    )


def _percentile(samples: Sequence[float], percent: int) -> float:
    if not samples:
        return 0.0
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]
