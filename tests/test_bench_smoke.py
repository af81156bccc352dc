"""The benchmarks run end to end at tiny sizes and report well-formed tables (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.run
from bench.clients import DEFAULT_CLIENTS, bench_clients, bench_latency
from bench.data import answer_events, encode_stream, split_feeds, tool_call_events
from bench.decode import bench_event_decode, bench_sse_decode
from bench.end_to_end import run_end_to_end
from bench.memory import bench_memory, fold_message
from bench.operators import bench_operators
from bench.results import RATIO_MARK, Row, Table, format_value, render_markdown
from bench.run import main
from bench.scaling import bench_retry_scaling, bench_tool_call_scaling, tool_call_stream
from bench.stream_clients import Delays, stamps
from bench.wire_server import paced_chunk
from streamkit.chat_decoder import ChatDecoder
from streamkit.events import ToolCallEnd
from streamkit.fold.message_builder import build_message
from streamkit.server import EmbeddedServer


def _check_table(table: Table, name: str) -> None:
    assert table.name == name
    assert table.rows, "a benchmark gave no rows"
    labels = [row.label for row in table.rows]
    assert len(labels) == len(set(labels)), "row labels repeat"
    for row in table.rows:
        assert set(row.values) <= set(table.columns), f"{row.label}: unknown columns"
        for column, value in row.values.items():
            assert value is None or (isinstance(value, int | float) and value >= 0), (
                f"{row.label} / {column} = {value!r}"
            )


def _baselines(table: Table) -> list[Row]:
    return [row for row in table.rows if row.label.endswith(f": {table.baseline}")]


def _ratio_column(table: Table) -> str:
    return next(column for column in table.columns if column.endswith(RATIO_MARK))


@pytest.mark.parametrize("bench", [bench_sse_decode, bench_event_decode])
def test_decode_benchmarks_measure_every_candidate_on_both_formats(bench: object) -> None:
    table = bench(tokens=50, repeat=1)  # type: ignore[operator]
    _check_table(table, table.name)
    assert {row.label.split(":")[0] for row in table.rows} == {"openai", "anthropic"}
    for row in _baselines(table):
        assert row.values[_ratio_column(table)] == 1.0
        assert row.values["MB/s"] > 0  # type: ignore[operator]
    # every candidate that ran produced the same number of events as streamkit
    assert not [row.note for row in table.rows if "expected" in row.note]


def test_sse_decode_compares_the_sdks_and_the_naive_floor() -> None:
    table = bench_sse_decode(tokens=20, repeat=1)
    labels = {row.label for row in table.rows}
    assert "openai: openai SDK" in labels
    assert "anthropic: naive split (floor)" in labels
    assert table.name == "sse_decode"


def test_operator_benchmark_reports_each_operator_against_bare_reactivex() -> None:
    table = bench_operators(events=200, repeat=1)
    _check_table(table, "operators")
    labels = [row.label for row in table.rows]
    assert "text deltas: to_message()" in labels
    assert "tool-call fragments: assemble_tool_calls()" in labels
    assert any("buffer_text" in label for label in labels)
    assert any("measure_progress" in label for label in labels)
    assert table.row("text deltas: bare reactivex").values["vs bare (x)"] == 1.0
    assert table.row("text deltas: to_message()").values["events"] == 200


def test_memory_benchmark_folds_both_lengths_and_formats() -> None:
    table = bench_memory(lengths=(50, 500), repeat=1)
    _check_table(table, "memory")
    assert [row.values["tokens"] for row in table.rows] == [50, 500, 50, 500]
    for row in table.rows:
        assert row.values["peak KiB"] > 0  # type: ignore[operator]
    assert any(note.startswith("openai: 10x the tokens") for note in table.notes)


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_fold_message_recovers_the_encoded_answer(fmt: str) -> None:
    events = answer_events(300, seed=3)
    feeds = split_feeds(encode_stream(events, fmt), low=7, high=50)  # type: ignore[arg-type]
    message = fold_message(feeds, fmt)  # type: ignore[arg-type]
    assert message.text == build_message(events).text
    assert len(message.text.split()) == 300
    assert message.finish_reason == "stop"


def test_tool_call_stream_assembles_into_valid_calls() -> None:
    message = build_message(tool_call_events(250, fragments=24))
    assert len(message.tool_calls) == 10
    assert all(call.valid and call.arguments["limit"] == 10 for call in message.tool_calls)


async def test_end_to_end_benchmark_runs_every_client_against_the_server() -> None:
    async with EmbeddedServer() as server:
        table = await run_end_to_end(server.url, requests=2, concurrent=3, limit=2, repeat=1)
    _check_table(table, "end_to_end")
    labels = [row.label for row in table.rows]
    assert "openai, sequential: openai SDK (AsyncOpenAI)" in labels
    assert "anthropic, 2 in flight: anthropic SDK (AsyncAnthropic)" in labels
    assert len(labels) == 12
    assert table.row("openai, 2 in flight: streamkit (shared session)").values["requests"] == 3


def test_format_value_marks_ratios_and_missing_values() -> None:
    assert format_value(None) == "n/a"
    assert format_value(0.5312, "vs bare (x)") == "0.53x"
    assert format_value(1234567.8) == "1,234,568"
    assert format_value(12345) == "12,345"
    assert format_value(0.012345) == "0.0123"


def test_markdown_lists_notes_and_marks_rows_with_one() -> None:
    table = Table(
        name="t",
        title="T",
        columns=("a", "b (x)"),
        rows=(Row("x", {"a": 1.5, "b (x)": 2.0}), Row("y", {"a": None}, "missing")),
        notes=("a note",),
    )
    text = render_markdown([table], header=["# H"])
    assert "| x | 1.5 | 2.00x |" in text
    assert "| y ¹ | n/a | n/a |" in text
    assert "- ¹ y: missing" in text
    assert "- a note" in text


def test_command_line_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = {"tokens": 20, "repeat": 1}
    monkeypatch.setitem(bench.run._SIZES, "sse_decode", (tiny, tiny))
    out = tmp_path / "bench.json"
    assert main(["--quick", "--only", "sse_decode", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "### SSE decoding" in printed
    assert "| openai: streamkit |" in printed
    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True
    assert [bench["name"] for bench in data["benchmarks"]] == ["sse_decode"]
    assert data["benchmarks"][0]["rows"][0]["values"]["vs streamkit (x)"] == 1.0


# --- end to end against the bare server, and scaling ---------------------------------------------


def test_client_comparison_runs_every_client_in_its_own_process_and_checks_its_chunks() -> None:
    table = bench_clients(shapes=((1, 30), (3, 10)))
    _check_table(table, "clients")
    assert len(table.rows) == 2 * len(DEFAULT_CLIENTS)
    floor = table.row("1 x 30: floor: aiohttp iter_any + split + orjson")
    assert floor.values["vs floor (x)"] == 1.0
    assert table.row("3 x 10: streamkit: typed events, async for").values["chunks"] == 30
    assert all(row.values["peak RSS MiB"] > 0 for row in table.rows)  # type: ignore[operator]


def test_latency_reads_the_send_stamps_of_paced_chunks() -> None:
    table = bench_latency(streams=2, rate=100.0, seconds=0.2)
    _check_table(table, "latency")
    assert table.row("floor: aiohttp iter_any + split + orjson").values["samples"] == 40
    assert table.row("streamkit: typed events, async for").values["samples"] == 40
    lateness = table.row("streamkit: buffer_text(10, 0.1), async for: lateness beyond its window")
    assert lateness.values["samples"]


def test_paced_chunks_carry_their_send_time_and_lateness_counts_from_the_due_time() -> None:
    chunk = paced_chunk((b'data: {"t":"', b'"}\n\n'), 12.5)
    assert chunk == b'data: {"t":" 12.500000"}\n\n'
    assert stamps(" 1.5 2.25") == [1.5, 2.25]
    delays = Delays()
    delays.text(" 0.0 0.0", batch=10, window=0.1)  # a short string: due 100 ms after its first
    assert delays.lateness and delays.lateness[0] >= 0


def test_retry_scaling_delivers_the_whole_answer_in_every_case() -> None:
    table = bench_retry_scaling(sizes=(200, 2000))
    _check_table(table, "retry_scaling")
    assert len(table.rows) == 6
    assert table.row("restart half-way: 200 events").values["growth (x)"] == 1.0


def test_tool_call_scaling_gets_every_call_at_index_zero() -> None:
    table = bench_tool_call_scaling(sizes=(20, 200))
    _check_table(table, "tool_call_scaling")
    assert table.row("decode + to_message(): 200 calls").values["calls"] == 200


def test_reused_index_zero_gives_each_call_its_own_index() -> None:
    decoder = ChatDecoder("openai")
    events = [event for feed in tool_call_stream(50) for event in decoder.feed(feed)]
    ends = [event.index for event in events if isinstance(event, ToolCallEnd)]
    assert ends == list(range(50))
