"""Re-record the transcripts of real servers in ``tests/formats/transcripts/recorded/``.

The test suite replays these recordings; it needs none of the servers. This script runs them,
each in its own virtual environment outside the project's dependencies, all on 127.0.0.1:

- a LiteLLM proxy (``pip install 'litellm[proxy]==1.106.12'``; the newest release's ``proxy``
  extra needs a package the index lacks) with a mock model (``mock_response``; LiteLLM answers
  its Anthropic endpoint for a mock model with a non-streamed body, so only the OpenAI one is
  recorded) and models that forward to ``streamkit serve``, in OpenAI and Anthropic formats;
- llama-cpp-python's OpenAI-compatible server (``pip install 'llama-cpp-python[server]'``, built
  from source: about 13 minutes on 2 cores) over a tiny model with random weights that this
  script writes with the ``gguf`` package, so nothing is downloaded.

Usage (from the repository root, with the project's ``.venv``)::

    .venv/bin/python -m tests.formats.record_transcripts \\
        --litellm-venv /path/to/litellm-venv --llama-venv /path/to/llama-venv

Either server may be left out (``--only litellm`` or ``--only llama``). Each recording is a
``streamkit.record`` file (the request body and the raw response bytes as they arrived) whose
metadata names the server and its version. Servers and subprocesses started here are stopped
here, whatever happens; every wait has a timeout. LiteLLM is told not to fetch its cost map,
so no traffic leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from streamkit.record import Recorder
from streamkit.server import EmbeddedServer

OUT = Path(__file__).parent / "transcripts" / "recorded"
LITELLM_VERSION = "1.106.12"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
# For the random-weight model: an enum keeps grammar-constrained arguments short and valid.
LLAMA_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                "required": ["city"],
            },
        },
    }
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv``; stop it (terminate, then kill) on the way out, whatever happens."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout} s")


async def record(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    *,
    name: str,
    format: str,
    headers: dict[str, str],
    metadata: dict[str, Any],
) -> None:
    """POST ``body`` to ``url`` and record the response bytes as they arrive, under ``name``."""
    path = OUT / f"{name}.jsonl"
    recorder = Recorder(path, format=format, request_body=body, metadata=metadata)  # type: ignore[arg-type]
    timeout = aiohttp.ClientTimeout(total=300, sock_read=120)
    async with session.post(url, json=body, headers=headers, timeout=timeout) as response:
        if response.status != 200:
            text = await response.text()
            print(f"  {name}: HTTP {response.status}: {text[:300]}", file=sys.stderr)
            recorder.close()
            path.unlink(missing_ok=True)
            return
        recorder(b"", time.monotonic())
        async for chunk in response.content.iter_any():
            recorder(chunk, time.monotonic())
    recorder.close()
    print(f"  recorded {path.name}")


# -- LiteLLM -------------------------------------------------------------------------------------


def _litellm_config(upstream: str) -> str:
    return f"""
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      mock_response: "Hello from the mock. It is sunny in Paris, 21 degrees."
  - model_name: fwd-openai
    litellm_params:
      model: openai/gpt-test
      api_base: {upstream}/v1
      api_key: test
  - model_name: fwd-anthropic
    litellm_params:
      model: anthropic/claude-test
      api_base: {upstream}
      api_key: test
litellm_settings:
  telemetry: false
  drop_params: true
"""


async def record_litellm(venv: Path, work: Path) -> None:
    master_key = "sk-" + secrets.token_hex(16)
    async with EmbeddedServer() as upstream:
        port = _free_port()
        config = work / "litellm.yaml"
        config.write_text(_litellm_config(upstream.url))
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from the internet
            "LITELLM_TELEMETRY": "False",
            "HF_HUB_OFFLINE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            # A throwaway key for this run only; headers are never recorded.
            "LITELLM_MASTER_KEY": master_key,
        }
        argv = [str(venv / "bin" / "litellm"), "--config", str(config)]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        with _process(argv, env, work / "litellm.log") as proc:
            base = f"http://127.0.0.1:{port}"
            await _wait_ready(f"{base}/health/liveliness", proc, timeout=180)
            meta = {"server": f"litellm[proxy]=={LITELLM_VERSION}"}
            openai_url = f"{base}/v1/chat/completions"
            anthropic_url = f"{base}/v1/messages"
            oh = {"authorization": f"Bearer {master_key}"}
            ah = {"x-api-key": master_key, "anthropic-version": "2023-06-01"}
            usage = {"stream_options": {"include_usage": True}}
            async with aiohttp.ClientSession() as session:
                jobs: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = [
                    ("litellm_mock_text", "openai", openai_url,
                     {"model": "mock-gpt", "messages": QUESTION, "stream": True, **usage}, oh),
                    ("litellm_forward_text", "openai", openai_url,
                     {"model": "fwd-openai", "messages": QUESTION, "stream": True, **usage}, oh),
                    ("litellm_forward_n2", "openai", openai_url,
                     {"model": "fwd-openai", "messages": QUESTION, "stream": True, "n": 2,
                      "max_tokens": 8, **usage}, oh),
                    ("litellm_forward_tools", "openai", openai_url,
                     {"model": "fwd-openai", "messages": QUESTION, "stream": True,
                      "tools": TOOLS, "tool_choice": "required", **usage}, oh),
                    ("litellm_forward_anthropic_text", "anthropic", anthropic_url,
                     {"model": "fwd-anthropic", "messages": QUESTION, "stream": True,
                      "max_tokens": 40}, ah),
                    ("litellm_forward_anthropic_as_openai", "openai", openai_url,
                     {"model": "fwd-anthropic", "messages": QUESTION, "stream": True,
                      "max_tokens": 40, **usage}, oh),
                ]  # fmt: skip
                for name, fmt, url, body, headers in jobs:
                    try:
                        await record(
                            session, url, body, name=name, format=fmt, headers=headers,
                            metadata={**meta, "model": body["model"]},
                        )  # fmt: skip
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        print(f"  {name}: {exc!r}", file=sys.stderr)


# -- llama-cpp-python ----------------------------------------------------------------------------


async def record_llama(venv: Path, work: Path) -> None:
    model = work / "tiny.gguf"
    python = str(venv / "bin" / "python")
    subprocess.run(  # in the llama venv, which has gguf and numpy
        [python, str(Path(__file__).with_name("tiny_gguf.py")), str(model)],
        check=True, timeout=120,
    )  # fmt: skip
    version = subprocess.run(
        [python, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
        check=True, timeout=60, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = _free_port()
    argv = [python, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--n_ctx", "512", "--chat_format", "chatml-function-calling"]
    argv += ["--seed", "11"]
    with _process(argv, dict(os.environ), work / "llama.log") as proc:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(f"{base}/v1/models", proc, timeout=120)
        meta = {"server": f"llama-cpp-python[server]=={version}", "model": "tiny random gguf"}
        url = f"{base}/v1/chat/completions"
        tool_choice = {"type": "function", "function": {"name": "get_weather"}}
        jobs: list[tuple[str, dict[str, Any]]] = [
            ("llama_text", {"model": "tiny", "messages": QUESTION, "stream": True,
                            "max_tokens": 12, "temperature": 0, "seed": 11}),
            ("llama_tool_call", {"model": "tiny", "messages": QUESTION, "stream": True,
                                 "max_tokens": 60, "temperature": 0, "seed": 11,
                                 "tools": LLAMA_TOOLS, "tool_choice": tool_choice}),
        ]  # fmt: skip
        async with aiohttp.ClientSession() as session:
            for name, body in jobs:
                try:
                    await record(
                        session, url, body, name=name, format="openai", headers={},
                        metadata=meta,
                    )  # fmt: skip
                except (TimeoutError, aiohttp.ClientError) as exc:
                    print(f"  {name}: {exc!r}", file=sys.stderr)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--litellm-venv", type=Path)
    parser.add_argument("--llama-venv", type=Path)
    parser.add_argument("--only", choices=("litellm", "llama"))
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(os.environ.get("RECORD_WORK_DIR") or tmp)  # keep the logs when set
        if args.only in (None, "litellm") and args.litellm_venv:
            print("LiteLLM proxy:")
            await record_litellm(args.litellm_venv, work)
        if args.only in (None, "llama") and args.llama_venv:
            print("llama-cpp-python server:")
            await record_llama(args.llama_venv, work)


if __name__ == "__main__":
    asyncio.run(main())
