"""kill -9 halfway, then re-run: every row once, every answer exact, only the rest asked.

``streamkit batch`` runs in a subprocess against the embedded server in this process, so the
server counts the requests of both runs. Rows cut mid-answer with a stored partial are continued
by the second run, not asked again.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from streamkit.batch import JSONLStore
from streamkit.batch.cli import row_request
from streamkit.server import EmbeddedServer, answer_for, split_partial

ROWS = 60
CHILD = "import sys; from streamkit.cli import main; sys.exit(main(sys.argv[1:]))"


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.endswith(b"}")]


def body(row: dict[str, Any]) -> dict[str, Any]:
    return row_request(row, format="openai", model=None, system=None, max_tokens=1024)


async def run_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        "batch",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_kill_9_halfway_then_rerun_asks_only_the_rest_and_continues_partials(
    tmp_path: Path,
) -> None:
    rows = [{"id": f"row-{i}", "prompt": f"Tell me about item {i}"} for i in range(ROWS)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    store = tmp_path / "out.jsonl"

    async with EmbeddedServer(rate=100) as server:
        command = [
            str(source),
            "--output",
            str(store),
            "--base-url",
            server.url,
            "--concurrency",
            "4",
            "--partial-interval",
            "0.1",
            "--quiet",
        ]
        first = await run_cli(*command)
        try:
            async with asyncio.timeout(60):
                while True:  # kill once some rows are done and some are mid-answer
                    records = lines(store)
                    done = {r["key"] for r in records if r["status"] == "done"}
                    cut = {r["key"] for r in records if r["status"] == "partial"} - done
                    if len(done) >= 8 and cut:
                        break
                    await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
        finally:
            if first.returncode is None:
                first.kill()
            await asyncio.wait_for(first.wait(), 10)
        assert first.returncode == -signal.SIGKILL

        after_kill = lines(store)
        done_before = {r["key"] for r in after_kill if r["status"] == "done"}
        partials: dict[str, str] = {}
        with JSONLStore(store) as saved:
            for record in after_kill:
                if record["status"] == "partial" and record["key"] not in done_before:
                    stored = saved.partial(record["key"], record["request_hash"])
                    assert stored is not None
                    partials[record["key"]] = stored.text
        assert 8 <= len(done_before) < ROWS and partials
        asked_before = len(server.requests)

        second = await run_cli(*command)
        async with asyncio.timeout(120):
            _, err = await second.communicate()
        assert second.returncode == 0, err.decode()
        summary = err.decode().strip().splitlines()[-1]
        assert summary.startswith(f"{ROWS - len(done_before)} done · {len(done_before)} skipped")
        second_requests = [request.body for request in server.requests[asked_before:]]

    # Every row exactly once, with its exact answer.
    final = lines(store)
    done_records = [r for r in final if r["status"] == "done"]
    assert Counter(r["key"] for r in done_records) == Counter(row["id"] for row in rows)
    by_key = {r["key"]: r["text"] for r in done_records}
    assert all(by_key[row["id"]] == answer_for(body(row)) for row in rows)

    # The second run asked only the rows not done, each once.
    asked = Counter(split_partial(b)[0][-1]["content"] for b in second_requests)
    not_done = [row for row in rows if row["id"] not in done_before]
    assert asked == Counter(row["prompt"] for row in not_done)

    # A row cut mid-answer was continued from its stored partial, not restarted.
    continued = {split_partial(b)[0][-1]["content"]: split_partial(b)[1] for b in second_requests}
    prompts = {row["id"]: row["prompt"] for row in rows}
    for key, text in partials.items():
        assert continued[prompts[key]] == text
