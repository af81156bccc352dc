"""Crash-safe JSON Lines: records come back in order; a crash costs at most the torn last line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.errors import ProtocolError
from streamkit.jsonl_file import JSONLAppender, JSONLError, append_jsonl, read_jsonl

RECORDS: list[dict[str, object]] = [
    {"type": "StreamStart", "id": "msg_1", "raw": {"type": "message_start"}, "wire_bytes": 40},
    {"type": "TextDelta", "text": "Grüße\n", "received_at": 1.75},
    {"type": "ToolCall", "arguments": {"city": "Zürich"}, "valid": True},
    {"type": "Usage", "input_tokens": 5, "output_tokens": None},
]


def test_append_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    for i in range(3):
        append_jsonl(path, {"i": i, "text": "é\n"})
    assert path.read_bytes().count(b"\n") == 3
    assert list(read_jsonl(path)) == [{"i": i, "text": "é\n"} for i in range(3)]


def test_torn_last_line_at_every_offset_loses_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    lines = [orjson.dumps(r) + b"\n" for r in RECORDS]
    head = b"".join(lines[:-1])
    for cut in range(len(lines[-1])):
        path.write_bytes(head + lines[-1][:cut])
        expected = RECORDS if cut == len(lines[-1]) - 1 else RECORDS[:-1]
        assert list(read_jsonl(path)) == expected, cut


@given(
    st.lists(st.dictionaries(st.text(), st.text() | st.integers(-(2**63), 2**63 - 1)), min_size=1),
    st.data(),
)
def test_a_crash_mid_write_never_costs_a_complete_record(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[dict[str, object]],
    data: st.DataObject,
) -> None:
    path = tmp_path_factory.mktemp("crash") / "f.jsonl"
    for record in records:
        append_jsonl(path, record)
    content = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(content)))
    path.write_bytes(content[:cut])
    complete = content[:cut].count(b"\n")
    got = list(read_jsonl(path))
    assert got[:complete] == records[:complete]
    assert len(got) in (complete, complete + 1)


def test_corruption_before_the_last_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n{"a": 3}\n')
    with pytest.raises(JSONLError) as caught:
        list(read_jsonl(path))
    assert caught.value.line_number == 3
    assert caught.value.path == str(path)
    assert isinstance(caught.value, ProtocolError)
    assert "line 3" in str(caught.value)
    path.write_bytes(b'{"a": 1}\n[1, 2]\n')
    with pytest.raises(JSONLError, match="line 2"):
        list(read_jsonl(path))


def test_appending_after_a_torn_last_line_at_every_offset_keeps_the_file_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "resume.jsonl"
    lines = [orjson.dumps(r) + b"\n" for r in RECORDS]
    head = b"".join(lines[:-1])
    for cut in range(len(lines[-1])):
        path.write_bytes(head + lines[-1][:cut])
        append_jsonl(path, {"next": "run"})
        kept = RECORDS if cut == len(lines[-1]) - 1 else RECORDS[:-1]  # whole but no newline
        assert list(read_jsonl(path)) == [*kept, {"next": "run"}], cut
        assert path.read_bytes().endswith(b'{"next":"run"}\n')


def test_a_torn_line_longer_than_a_read_block_is_cut_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "' + b"x" * 200_000)
    append_jsonl(path, {"c": 3})
    assert list(read_jsonl(path)) == [{"a": 1}, {"c": 3}]
    path.write_bytes(b'{"b": "' + b"x" * 200_000)  # no complete line at all
    append_jsonl(path, {"c": 3})
    assert path.read_bytes() == b'{"c":3}\n'


def test_an_appender_opens_the_file_on_its_first_write_only(tmp_path: Path) -> None:
    path = tmp_path / "lazy.jsonl"
    unused = JSONLAppender(path)
    unused.close()
    assert not path.exists()
    appender = JSONLAppender(path)
    appender.write({"i": 1})
    appender.write({"i": 2})
    appender.close()
    appender.close()  # idempotent
    assert list(read_jsonl(path)) == [{"i": 1}, {"i": 2}]
    with pytest.raises(ValueError, match="closed"):
        appender.write({"i": 3})


def test_an_unserializable_record_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad-record.jsonl"
    append_jsonl(path, {"i": 1})
    with pytest.raises(TypeError):
        append_jsonl(path, {"i": object()})
    assert list(read_jsonl(path)) == [{"i": 1}]


# One writer process: two threads share one appender, a third opens the file per record, as
# separate runs of a program appending to one results file do.
_WRITER = """
import sys, threading
from streamkit.jsonl_file import JSONLAppender, append_jsonl

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
shared = JSONLAppender(path)

def run(thread, write):
    for i in range(count):
        write({"writer": name, "thread": thread, "i": i, "pad": "p" * (i % 7) * 9000})

threads = [
    threading.Thread(target=run, args=("a", shared.write)),
    threading.Thread(target=run, args=("b", shared.write)),
    threading.Thread(target=run, args=("c", lambda record: append_jsonl(path, record))),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
shared.close()
"""

# The victim appends large records forever, so a SIGKILL often lands in the middle of one.
_VICTIM = """
import sys
from streamkit.jsonl_file import append_jsonl

path, run = sys.argv[1], sys.argv[2]
i = 0
while True:
    append_jsonl(path, {"writer": "victim", "thread": run, "i": i, "pad": "v" * 200_000})
    i += 1
"""


def test_processes_and_threads_appending_while_one_is_killed_lose_no_record(
    tmp_path: Path,
) -> None:
    import random
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "shared.jsonl"
    root = str(Path(__file__).resolve().parent.parent)
    count = 100
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"w{n}", str(count)], cwd=root)
        for n in range(3)
    ]
    rng = random.Random(15)
    try:
        for run in range(6):
            victim = subprocess.Popen(
                [sys.executable, "-c", _VICTIM, str(path), str(run)], cwd=root
            )
            try:
                time.sleep(rng.uniform(0.3, 0.9))  # a random moment, not a timing assertion
            finally:
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=30)
        for writer in writers:
            assert writer.wait(timeout=120) == 0
    finally:
        for process in writers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    records = list(read_jsonl(path))  # raises nothing: no torn line was left in the middle
    keys = [(r["writer"], r["thread"], r["i"]) for r in records]
    assert len(keys) == len(set(keys)), "a record appears twice"
    for n in range(3):
        for thread in "abc":
            got = sorted(i for w, t, i in keys if w == f"w{n}" and t == thread)
            assert got == list(range(count)), (n, thread)
    for run in range(6):  # a killed run's complete records are all there, in order
        got = [i for w, t, i in keys if w == "victim" and t == str(run)]
        assert got == list(range(len(got)))
