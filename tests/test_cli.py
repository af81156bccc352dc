"""``streamkit chat`` and ``streamkit serve`` as users run them: exit codes and output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamkit.cli import request_body, resolve_api_key
from streamkit.fold.message_builder import build_message
from streamkit.record import replay
from streamkit.server import EmbeddedServer, answer_for, tokens

SECRET = "sk-cli-secret-0123456789"


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamkit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env={**os.environ, **(env or {})},
    )


def expected_answer(prompt: str, format_name: str = "openai") -> str:
    if format_name in ("responses", "gemini"):  # the server reads them as this chat request
        return answer_for([{"role": "user", "content": prompt}])
    return answer_for(request_body(format_name, prompt, model=None, system=None, max_tokens=1024))


@pytest.fixture
def keyed_server() -> Iterator[str]:
    with EmbeddedServer(api_key=SECRET).run_in_thread() as server:
        yield server.url


@pytest.mark.parametrize("format_name", ["openai", "anthropic", "responses", "gemini"])
def test_chat_streams_the_embedded_answer_and_a_summary(format_name: str) -> None:
    result = run_cli("chat", "Tell me a story", "--format", format_name, "--rate", "0")

    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_answer("Tell me a story", format_name) + "\n"
    summary = result.stderr.strip().splitlines()[-1]
    assert "tokens" in summary and "TTFT" in summary and "tok/s" in summary


def test_chat_reads_the_prompt_from_stdin() -> None:
    result = run_cli("chat", "-", "--rate", "0", "--no-stats", stdin="A poem, please")

    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_answer("A poem, please") + "\n"
    assert result.stderr == ""


def test_chat_survives_a_disconnect_with_the_exact_answer() -> None:
    result = run_cli(
        "chat", "Hello", "--rate", "0", "--retry", "--fault", "disconnect-after=4;first-attempts=1"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_answer("Hello") + "\n"
    assert "[attempt 2 in " in result.stderr


def test_chat_without_retry_fails_with_one_line_and_exit_1() -> None:
    result = run_cli("chat", "Hello", "--rate", "0", "--no-retry", "--fault", "disconnect-after=4")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("streamkit: error: ")


def test_model_and_max_tokens_reach_the_server() -> None:
    result = run_cli(
        "chat", "Hello", "--rate", "0", "--json", "--model", "m-1", "--max-tokens", "5"
    )

    assert result.returncode == 0, result.stderr
    completion = orjson.loads(result.stdout)
    assert completion["model"] == "m-1"
    assert completion["choices"][0]["finish_reason"] == "length"
    first_five = "".join(tokens(expected_answer("Hello"))[:5])
    assert completion["choices"][0]["message"]["content"] == first_five


def test_a_stalled_stream_times_out_with_exit_1() -> None:
    result = run_cli(
        "chat",
        "Hello",
        "--rate",
        "0",
        "--no-retry",
        "--idle-timeout",
        "0.2",
        "--fault",
        "stall=5@3",
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "streamkit: error: idle timeout: nothing after 0.2 s"
        " (retry is off: --retry retries and resumes the answer)"
    )


def test_the_retry_notice_is_a_line_of_its_own_naming_the_cause() -> None:
    result = run_cli(
        "chat", "Hello", "--rate", "0", "--retry", "--fault", "disconnect-after=4;first-attempts=1"
    )

    assert "\n[attempt 2 in " in result.stderr
    assert " s after ConnectionLostError]\n" in result.stderr


def test_an_unwritable_recording_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run_cli("chat", "Hello", "--rate", "0", "--record", str(tmp_path / "no" / "x.jsonl"))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("streamkit: error: ")


def test_a_closed_pipe_stops_quietly() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "streamkit", "chat", "Hello", "--rate", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.read(10)
        process.stdout.close()  # as `| head -c 10` does
        stderr = process.stderr.read().decode()
        process.wait(timeout=30)

    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_chat_json_prints_the_final_message() -> None:
    result = run_cli("chat", "Hello", "--rate", "0", "--json", "--format", "anthropic")

    assert result.returncode == 0, result.stderr
    message = orjson.loads(result.stdout)
    assert message["type"] == "message"
    assert message["content"][0]["text"] == expected_answer("Hello", "anthropic")
    assert message["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("format_name", "text_of"),
    [
        ("responses", lambda body: body["output"][0]["content"][0]["text"]),
        ("gemini", lambda body: body["candidates"][0]["content"]["parts"][0]["text"]),
    ],
)
def test_chat_json_prints_the_responses_and_gemini_bodies(
    format_name: str, text_of: Callable[[Any], str]
) -> None:
    result = run_cli("chat", "Hello", "--rate", "0", "--json", "--format", format_name)

    assert result.returncode == 0, result.stderr
    assert text_of(orjson.loads(result.stdout)) == expected_answer("Hello", format_name)


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "Hello", "--max-tokens", "0"],
        ["chat", "Hello", "--format", "cohere"],
        ["chat", "Hello", "--fault", "explode=1"],
        ["chat", "   "],
        ["chat", "Hello", "--base-url", "http://127.0.0.1:9", "--fault", "status=500"],
        ["chat", "Hello", "--base-url", "not a url"],
        ["chat", "Hello", "--rate", "abc"],
        ["serve", "--host", "0.0.0.0"],
        ["dance"],
    ],
)
def test_bad_arguments_exit_2_without_traceback(args: list[str]) -> None:
    result = run_cli(*args)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr


def test_base_url_takes_the_key_from_the_environment(keyed_server: str) -> None:
    env = {"STREAMKIT_API_KEY": SECRET}

    result = run_cli("chat", "Hi", "--base-url", keyed_server, "--no-stats", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_answer("Hi") + "\n"


def test_a_wrong_key_is_an_http_error_that_never_shows_the_key(keyed_server: str) -> None:
    wrong = "sk-wrong-key-9876543210"
    env = {"STREAMKIT_API_KEY": "", "OPENAI_API_KEY": wrong}

    result = run_cli("chat", "Hi", "--base-url", keyed_server, env=env)

    assert result.returncode == 1
    assert "401" in result.stderr
    assert wrong not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout


def test_an_unreachable_base_url_fails_with_one_line() -> None:
    with EmbeddedServer().run_in_thread() as server:
        url = server.url
    # the server is closed now: nothing listens on its port
    result = run_cli("chat", "Hi", "--base-url", url, "--max-attempts", "2")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("streamkit: error: ")


async def test_record_then_replay_gives_the_same_message(tmp_path: Path) -> None:
    path = tmp_path / "story.jsonl"
    result = run_cli("chat", "Hello", "--rate", "0", "--json", "--record", str(path))
    assert result.returncode == 0, result.stderr

    from streamkit.bridge import collect

    replayed = build_message(await collect(replay(path)))

    assert replayed.text == orjson.loads(result.stdout)["choices"][0]["message"]["content"]
    assert SECRET not in path.read_text()


def test_resolve_api_key_prefers_streamkit_then_the_formats_variable() -> None:
    assert resolve_api_key("openai", {"STREAMKIT_API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    assert resolve_api_key("openai", {"OPENAI_API_KEY": "b", "ANTHROPIC_API_KEY": "c"}) == "b"
    assert resolve_api_key("anthropic", {"OPENAI_API_KEY": "b", "ANTHROPIC_API_KEY": "c"}) == "c"
    assert resolve_api_key("responses", {"OPENAI_API_KEY": "b", "GEMINI_API_KEY": "d"}) == "b"
    assert resolve_api_key("gemini", {"OPENAI_API_KEY": "b", "GEMINI_API_KEY": "d"}) == "d"
    assert resolve_api_key("anthropic", {}) is None


def _ctrl_c_as_on_a_terminal() -> None:
    """In the child: SIGINT as a terminal delivers it. A shell's background job (``make test &``)
    ignores SIGINT, and a child inherits that; the server would then never hear Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _communicate_or_kill(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The process's output once it ends; killed (and the test failed) if it has not in 10 s."""
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


def test_serve_runs_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "serve", "--port", "0", "--rate", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_on_a_terminal,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("streamkit: serving on http://127.0.0.1:")
        url = banner.split()[3]
        result = run_cli(
            "chat", "Hi", "--base-url", url, "--no-stats", env={"STREAMKIT_API_KEY": "x"}
        )
        assert result.stdout == expected_answer("Hi") + "\n"
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C
        _, stderr = _communicate_or_kill(process)
    assert process.returncode == 130
    assert "Traceback" not in stderr


def test_the_system_prompt_reaches_the_request() -> None:
    with EmbeddedServer().run_in_thread() as threaded:
        result = run_cli(
            "chat",
            "Hi",
            "--base-url",
            threaded.url,
            "--system",
            "Be brief.",
            "--format",
            "anthropic",
            "--no-stats",
            env={"STREAMKIT_API_KEY": "x"},
        )
        (request,) = threaded.server.requests

    assert result.returncode == 0, result.stderr
    assert request.body["system"] == "Be brief."
    assert request.body["messages"] == [{"role": "user", "content": "Hi"}]


def test_serve_can_require_a_key_from_the_environment() -> None:
    env = {**os.environ, "SERVE_KEY": SECRET}
    with subprocess.Popen(
        [sys.executable, "-m", "streamkit", "serve", "--port", "0", "--api-key-env", "SERVE_KEY"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_ctrl_c_as_on_a_terminal,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split()[3]
            wrong = run_cli("chat", "Hi", "--base-url", url, env={"STREAMKIT_API_KEY": "nope"})
            right = run_cli("chat", "Hi", "--base-url", url, env={"STREAMKIT_API_KEY": SECRET})
        finally:
            process.send_signal(signal.SIGINT)
            _communicate_or_kill(process)

    assert wrong.returncode == 1 and "401" in wrong.stderr
    assert right.returncode == 0, right.stderr


def run_on_a_terminal(
    *args: str, stdout_too: bool = False
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the command with stderr (and with ``stdout_too`` stdout) on a pseudo-terminal.

    Returns the process (its stdout, when a pipe) and everything written to the terminal.
    """
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(slave)
    screen = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, "no output from the terminal for 30 s"
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            screen += data
        stdout = process.stdout.read().decode() if process.stdout else ""
        returncode = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.stdout:
            process.stdout.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    completed = subprocess.CompletedProcess(process.args, returncode, stdout, "")
    return completed, screen.decode(errors="replace")


def test_on_a_terminal_a_status_line_shows_on_stderr_and_never_in_the_answer() -> None:
    result, terminal = run_on_a_terminal(
        "chat",
        "Hello",
        "--rate",
        "200",
        "--retry",
        "--fault",
        "disconnect-after=6;first-attempts=1",
    )

    assert result.returncode == 0
    assert result.stdout == expected_answer("Hello") + "\n"  # the answer alone, untouched
    assert "streaming… " in terminal and " tokens" in terminal
    assert "\x1b[" in terminal  # drawn and erased in place by rich
    assert "[attempt 2 in " in terminal  # the retry notice, on its own line
    assert "TTFT" in terminal  # the summary line stays after the status line is gone


def test_without_a_terminal_there_is_no_status_line() -> None:
    result = run_cli("chat", "Hello", "--rate", "200")

    assert result.returncode == 0
    assert "streaming…" not in result.stderr
    assert "\x1b" not in result.stderr
    assert result.stderr.count("\n") == 1  # the summary line only


def test_answer_and_status_share_one_terminal_without_overwriting() -> None:
    result, terminal = run_on_a_terminal("chat", "Hello", "--rate", "200", stdout_too=True)

    assert result.returncode == 0
    assert "streaming… " in terminal
    plain = terminal.replace("\r\n", "\n")
    for word in expected_answer("Hello").split()[-5:]:
        assert word in plain


def test_version_names_the_distribution() -> None:
    result = run_cli("--version")

    assert result.returncode == 0
    assert result.stdout.startswith("streamkit-llm ")


def test_help_shows_every_default() -> None:
    result = run_cli("chat", "--help")

    options = result.stdout.split("options:", 1)[1]
    blocks = re.split(r"\n  (?=-)", options)[1:]  # one block per option, wrapped lines joined
    helps = {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks}
    del helps["-h"]
    assert len(helps) == 18
    for option, text in helps.items():
        assert "(default: " in text, option
    assert "(default: off, as in the library, where retry= is opt- in)" in helps["--retry"]


def test_a_base_url_without_a_scheme_is_a_clear_usage_error() -> None:
    result = run_cli("chat", "Hello", "--base-url", "127.0.0.1:8765")

    assert result.returncode == 2
    assert "--base-url needs a scheme: http://127.0.0.1:8765" in result.stderr
    assert "'://" not in result.stderr


def test_a_total_timeout_after_some_tokens_says_the_answer_is_incomplete() -> None:
    result = run_cli(
        "chat", "Hello", "--rate", "0", "--total-timeout", "0.5", "--fault", "stall=30@6"
    )

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("streamkit: error: the total timeout (0.5 s) ran out after ")
    assert "tokens: the answer above is incomplete" in last
    assert result.stdout.strip()  # the tokens that did arrive


def test_retry_is_off_by_default_in_the_cli_as_in_the_library() -> None:
    import inspect

    import streamkit as sk
    from streamkit.cli import build_parser

    args = build_parser().parse_args(["chat", "Hello"])
    assert args.retry is False
    assert inspect.signature(sk.stream_chat).parameters["retry"].default is None
    assert inspect.signature(sk.open_stream).parameters["retry"].default is None


def test_the_default_model_comes_from_the_environment_when_set() -> None:
    from streamkit.cli import DEFAULT_MODELS, default_model

    assert default_model("anthropic", {}) == DEFAULT_MODELS["anthropic"]
    assert default_model("anthropic", {"STREAMKIT_ANTHROPIC_MODEL": "claude-x"}) == "claude-x"
    body = request_body(
        "openai",
        "Hi",
        model=None,
        system=None,
        max_tokens=5,
        environ={"STREAMKIT_OPENAI_MODEL": "m"},
    )
    assert body["model"] == "m"
    assert "claude-sonnet-4-5" not in DEFAULT_MODELS.values()  # retires on 2026-11-30
