"""Run the embedded server in a child process, so client benchmarks don't share its CPU time.

``python -m bench.server_process`` starts ``EmbeddedServer(rate=0)`` on 127.0.0.1 (a free port),
prints its URL on one line, and serves until its standard input closes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamkit.server import EmbeddedServer

__all__ = ["main", "server_in_subprocess"]


@contextmanager
def server_in_subprocess(*, timeout: float = 30.0) -> Iterator[str]:
    """Start the server in a child process and yield its root URL; stop it on exit.

    Raises:
        RuntimeError: the child did not report a URL.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.server_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,  # where ``bench`` is importable
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


async def _serve() -> None:
    async with EmbeddedServer(rate=0.0) as server:
        print(server.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    """Serve until standard input closes."""
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
