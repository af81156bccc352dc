"""``streamkit batch``: resumable runs from a JSONL file, progress, summary line, exit codes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamkit.batch.cli import input_rows, row_request, run
from streamkit.cli import build_parser, main
from streamkit.server import answer_for


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


ROWS = [
    {"id": "a", "prompt": "hello"},
    {"prompt": "no id here", "topic": "kept"},
    {"id": 3, "messages": [{"role": "user", "content": "third"}]},
]


def test_a_run_answers_every_row_and_a_rerun_skips_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "--output", str(out), "--quiet"]) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith("3 done · 0 skipped · 0 failed · ")
    assert " tokens · " in summary

    stored = {r["key"]: r for r in records(out)}
    assert set(stored) == {"a", "line-2", "3"}
    for row in input_rows(str(source)):
        body = row_request(row, format="openai", model=None, system=None, max_tokens=1024)
        assert stored[str(row["id"])]["text"] == answer_for(body)
    assert stored["line-2"]["meta"] == {"topic": "kept"}

    assert main(["batch", str(source), "--output", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err.strip().startswith("0 done · 3 skipped · 0 failed · 0 tokens")


def test_a_failed_row_exits_1_and_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", [*ROWS, {"id": "bad", "messages": []}])
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out), "--quiet", "--no-retry"]) == 1
    assert "3 done · 0 skipped · 1 failed" in capsys.readouterr().err
    (failed,) = [r for r in records(out) if r["status"] == "failed"]
    assert failed["key"] == "bad" and failed["error"]["status"] == 400


def test_plain_progress_lines_when_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    argv = ["batch", str(source), "-o", str(tmp_path / "o.jsonl"), "--rate", "150"]
    assert main([*argv, "--progress-every", "0.05", "--concurrency", "1"]) == 0
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if "/3 rows · " in line]
    assert progress and "\r" not in err
    assert err.strip().splitlines()[-1].startswith("3 done")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_live_line_on_a_terminal_and_a_rate_limit_pause_in_the_summary(
    tmp_path: Path,
) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    args = build_parser().parse_args(
        [
            "batch",
            str(source),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--rate",
            "150",
            "--fault",
            "status=429;retry-after=0.3;first-attempts=1",
        ]
    )
    terminal = Terminal()
    assert run(args, err=terminal) == 0
    shown = terminal.getvalue()
    assert "\r\x1b[K" in shown and "/3 rows · " in shown
    summary = shown.rsplit("\r\x1b[K", 1)[-1].strip()
    assert summary.startswith("3 done · 0 skipped · 0 failed")
    assert "paused 0.3 s" in summary


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": 1, "prompt": "ok"}\nnot json\n', "line 2: not valid JSON"),
        (b'{"id": 1}\n', "line 1: needs a 'prompt' string or a 'messages' list"),
        (b"[1, 2]\n", "line 1: not a JSON object"),
    ],
)
def test_bad_input_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(content)
    assert main(["batch", str(source), "-o", str(tmp_path / "o.jsonl"), "-q"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [["--rpm", "0"], ["--concurrency", "0"], ["--base-url", "ftp://x"], ["--fault", "nope=1"]],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    assert main(["batch", str(source), "-o", str(tmp_path / "o.jsonl"), *extra]) == 2
    assert capsys.readouterr().err.startswith("streamkit: error: ")


def test_a_missing_input_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "is not a file" in capsys.readouterr().err
