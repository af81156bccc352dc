"""Benchmark: ``sk.batch`` against ``gather_streams`` and against bare streams, rows/s and peak RSS.

Run by hand (a long measurement, not part of ``bench.run`` or the tests)::

    python -m bench.batch --rows 2000 20000 200000 --concurrency 64 256

Each (mode, rows, concurrency) runs in a fresh child process, so its peak RSS
(``VmHWM``) is its own; the embedded server (``rate=0``) runs in another child. Modes:

- ``batch``: ``sk.batch`` over a generator of rows, results streamed to a JSONL store,
  nothing kept (``.run()``);
- ``plain``: the same streams without the batch layer: ``concurrency`` workers pulling rows
  from the generator, one shared session sized to ``concurrency``, ``collect_message`` each;
  the throughput the batch layer is compared with;
- ``gather``: today's ``gather_streams`` with one factory per row and a JSONL log.

Targets (issue 12): batch's peak RSS at 200k rows within 1.3x of 2k rows; batch's rows/s
within 10 % of plain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.peak_rss import peak_rss_kib

__all__ = ["main", "measure"]

MODES = ("batch", "plain", "gather")


def _rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"id": i, "prompt": f"question number {i}"}


def _body(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "streamkit-echo",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": row["prompt"]}],
        "stream_options": {"include_usage": True},
    }


async def _run(mode: str, rows: int, concurrency: int, url: str, store: str) -> int:
    import aiohttp

    import streamkit as sk
    from streamkit.sinks import gather_streams

    if mode == "batch":
        summary = await sk.batch(
            _rows(rows),
            request=_body,
            endpoint=sk.ChatEndpoint(url),
            store=store,
            concurrency=concurrency,
        ).run()
        return summary.done
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        endpoint = sk.ChatEndpoint(url, session=session)
        if mode == "gather":
            factories = [(lambda row=row: endpoint.stream(_body(row))) for row in _rows(rows)]
            messages = await gather_streams(
                factories, concurrency=concurrency, progress=False, jsonl=store
            )
            return len(messages)
        source = _rows(rows)
        done = 0

        async def worker() -> None:
            nonlocal done
            for row in source:  # one shared generator: each row is pulled once
                await sk.collect_message(endpoint.stream(_body(row)))
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done


def measure(mode: str, rows: int, concurrency: int, url: str) -> dict[str, Any]:
    """Run one configuration in this process; rows/s and this process's peak RSS."""
    with tempfile.TemporaryDirectory() as directory:
        store = os.path.join(directory, "out.jsonl")
        started = time.perf_counter()
        done = asyncio.run(_run(mode, rows, concurrency, url, store))
        seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "rows": rows,
        "concurrency": concurrency,
        "done": done,
        "seconds": round(seconds, 2),
        "rows_per_s": round(done / seconds, 1),
        "peak_rss_mib": round(peak_rss_kib() / 1024, 1),
    }


def _child(mode: str, rows: int, concurrency: int, url: str, timeout: float) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "bench.batch", "--child", mode, str(rows), str(concurrency)]
    out = subprocess.run(
        [*command, url], cwd=root, capture_output=True, text=True, timeout=timeout, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and print a markdown table (and JSON lines with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[2000, 20_000, 200_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--max-gather-rows", type=int, default=20_000, help="gather is slow")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--json", type=Path, help="append each result as a JSON line")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "ROWS", "CONC", "URL"))
    args = parser.parse_args(argv)
    if args.child:
        mode, rows, concurrency, url = args.child
        print(json.dumps(measure(mode, int(rows), int(concurrency), url)), flush=True)
        return 0

    from bench.server_process import server_in_subprocess

    print("| mode | rows | concurrency | seconds | rows/s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    with server_in_subprocess() as url:
        for rows in args.rows:
            for concurrency in args.concurrency:
                for mode in args.modes:
                    if mode == "gather" and rows > args.max_gather_rows:
                        continue
                    result = _child(mode, rows, concurrency, url, args.timeout)
                    print(
                        f"| {mode} | {rows} | {concurrency} | {result['seconds']} | "
                        f"{result['rows_per_s']} | {result['peak_rss_mib']} |",
                        flush=True,
                    )
                    if args.json is not None:
                        with args.json.open("a") as file:
                            file.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
