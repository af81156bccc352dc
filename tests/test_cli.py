"""``streamkit chat`` and ``streamkit serve`` as users run them: exit codes and output."""

from __future__ import annotations

import os
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
        "chat", "Hello", "--rate", "0", "--fault", "disconnect-after=4;first-attempts=1"
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
    )


def test_the_retry_notice_is_a_line_of_its_own_naming_the_cause() -> None:
    result = run_cli(
        "chat", "Hello", "--rate", "0", "--fault", "disconnect-after=4;first-attempts=1"
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


def test_serve_runs_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "serve", "--port", "0", "--rate", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
        process.send_signal(2)  # SIGINT, as Ctrl-C
        _, stderr = process.communicate(timeout=10)
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
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split()[3]
            wrong = run_cli("chat", "Hi", "--base-url", url, env={"STREAMKIT_API_KEY": "nope"})
            right = run_cli("chat", "Hi", "--base-url", url, env={"STREAMKIT_API_KEY": SECRET})
        finally:
            process.send_signal(2)
            process.communicate(timeout=10)

    assert wrong.returncode == 1 and "401" in wrong.stderr
    assert right.returncode == 0, right.stderr
