"""Run the benchmarks, print one markdown report: ``python -m bench.run [--quick] [--json PATH]``.

``--quick`` uses small sizes and few repeats (a smoke run, not a measurement); ``--only`` picks
benchmarks by name; ``--json`` also writes the results, with the machine's description, to a file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.clients import bench_clients, bench_latency
from bench.decode import bench_event_decode, bench_sse_decode
from bench.end_to_end import bench_end_to_end
from bench.memory import bench_memory
from bench.operators import bench_operators
from bench.results import Table, render_markdown, to_json
from bench.scaling import bench_retry_scaling, bench_tool_call_scaling

__all__ = ["BENCHMARKS", "main", "run"]

#: Each benchmark by name: (full-size keyword arguments, quick keyword arguments).
_SIZES: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "sse_decode": ({"tokens": 2000, "repeat": 7}, {"tokens": 300, "repeat": 2}),
    "event_decode": ({"tokens": 2000, "repeat": 7}, {"tokens": 300, "repeat": 2}),
    "operators": ({"events": 50_000, "repeat": 5}, {"events": 3000, "repeat": 2}),
    "end_to_end": (
        {"requests": 100, "concurrent": 50, "limit": 10, "repeat": 3},
        {"requests": 10, "concurrent": 20, "limit": 10, "repeat": 1},
    ),
    "memory": (
        {"lengths": (10_000, 100_000), "repeat": 3},
        {"lengths": (1000, 10_000), "repeat": 1},
    ),
    "clients": (
        {"shapes": ((1, 100_000), (200, 500), (1000, 100)), "repeat": 1},
        {"shapes": ((1, 2000), (20, 100), (50, 40)), "repeat": 1},
    ),
    "latency": (
        {"streams": 200, "rate": 50.0, "seconds": 10.0},
        {"streams": 10, "rate": 50.0, "seconds": 1.0},
    ),
    "retry_scaling": (
        {"sizes": (10_000, 100_000, 1_000_000), "repeat": 1},
        {"sizes": (1000, 10_000), "repeat": 1},
    ),
    "tool_call_scaling": (
        {"sizes": (1_000, 10_000, 100_000), "repeat": 1},
        {"sizes": (100, 1000), "repeat": 1},
    ),
}

#: The benchmark functions, in report order.
BENCHMARKS: Mapping[str, Callable[..., Table]] = {
    "sse_decode": bench_sse_decode,
    "event_decode": bench_event_decode,
    "operators": bench_operators,
    "end_to_end": bench_end_to_end,
    "memory": bench_memory,
    "clients": bench_clients,
    "latency": bench_latency,
    "retry_scaling": bench_retry_scaling,
    "tool_call_scaling": bench_tool_call_scaling,
}

_PACKAGES = (
    "streamkit",
    "reactivex",
    "aiohttp",
    "orjson",
    "openai",
    "anthropic",
    "pydantic",
    "httpx",
    "httpx-sse",
)


def run(
    names: Sequence[str], *, quick: bool = False, log: Callable[[str], None] = print
) -> list[Table]:
    """Run the named benchmarks (full or quick sizes), in order; ``log`` hears progress."""
    tables: list[Table] = []
    for name in names:
        full, small = _SIZES[name]
        log(f"running {name} ...")
        tables.append(BENCHMARKS[name](**(small if quick else full)))
    return tables


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    versions: dict[str, str] = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "n/a"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load": [round(load, 1) for load in os.getloadavg()],
        "versions": versions,
    }


def _header(meta: Mapping[str, Any], quick: bool) -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    mode = " (--quick: smoke sizes, not a measurement)" if quick else ""
    return [
        f"## streamkit benchmarks{mode}",
        "",
        f"{meta['date']} · {meta['implementation']} {meta['python']} · {meta['platform']} · "
        f"{meta['cpus']} CPUs · load average {'/'.join(map(str, meta['load']))} at the start",
        "",
        f"Packages: {versions}.",
        "",
        "Times are the best of several runs (time.perf_counter, after a warm-up). The machine is "
        "shared and noisy: compare the ratios (x), which were measured in the same run.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: run, print the markdown report, optionally write JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHMARKS)})",
    )
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    meta = machine()
    tables = run(names, quick=args.quick, log=lambda line: print(line, file=sys.stderr))
    print(render_markdown(tables, header=_header(meta, args.quick)))
    if args.json is not None:
        payload = to_json(tables, meta={**meta, "quick": args.quick})
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
