"""One operator pipeline, four wire formats: the same answer folds into the same final message.

Issue 4 asks for "a test that a pipeline built of these operators gives identical final messages
for the same answer served in both formats by the embedded server"; issue 16 adds OpenAI Responses
and Google Gemini. Each test here sends the same prompt to the embedded server once per format
(chat completions, Anthropic messages, Responses, Gemini), and runs every answer through one
realistic pipeline::

    ChatEndpoint.stream(body, retry=...) -> measure_progress -> assemble_tool_calls
        ├── to_message()               the final message
        ├── buffer_text(...)           batched text for a UI
        └── smooth("words")            whole words for a typewriter display

The branches share one subscription (one HTTP request per run, ``publish``), so what they see is
the same stream.

What is equal across the formats: the text (the server seeds it from the prompt alone), each tool
call's name and parsed arguments, in order, the normalized finish reason, and for a plain answer
the usage output tokens; the text paths join to the message text and the progress meter's token
count is the server's usage. Known, deliberate differences, asserted so that a change shows up:

- With tool calls, the Anthropic answer opens with a short text block ("Let me look that up."),
  as Claude models commonly write before ``tool_use`` blocks; the OpenAI, Responses and Gemini
  answers have no content, as GPT and Gemini tool-call turns usually do. The usage output tokens
  differ by that text's words.
- Tool-call ids (``call_...`` / ``toolu_...``) and ``ToolCall.index`` (OpenAI's ``tool_calls``
  index; Anthropic's content-block index, shifted by the text block; the Responses output index;
  Gemini's count of calls) are wire details.
- The raw finish reasons keep each provider's words (``stop`` / ``end_turn`` / ``completed`` /
  ``STOP``, ``tool_calls`` / ``tool_use`` / ``completed`` / ``STOP``).
- Gemini sends each tool call whole, in one event, so its answer with two calls is three events:
  the disconnect that cuts the others after five events cuts Gemini's after the first call.
- OpenAI reports usage only when the request asks for it (``stream_options.include_usage``); the
  requests here ask, and one test shows what happens when they do not.
- After a disconnect resumed with ``continue`` the answer is spliced from two requests, and the
  usage (in the message and hence in the meter) is the last request's alone: the first was cut
  off before it reported any. The two formats are cut at different points (the fault counts SSE
  events, and Anthropic spends two on ``message_start`` and ``content_block_start``), so their
  usage differs there; with ``restart`` the last request is the whole answer and usage agrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as rx_ops

import streamkit as sk
from streamkit import operators as sk_ops
from streamkit import sinks
from streamkit.formats import FormatName
from streamkit.operators.progress import StatsAccumulator
from streamkit.server import EmbeddedServer, answer_for, tokens

FORMATS: tuple[FormatName, ...] = ("openai", "anthropic", "responses", "gemini")
PATHS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "responses": "/v1/responses",
    "gemini": "/v1beta/models/streamkit-echo:streamGenerateContent",
}
RAW_STOP = {"openai": "stop", "anthropic": "end_turn", "responses": "completed", "gemini": "STOP"}
RAW_TOOL_CALLS = {
    "openai": "tool_calls",
    "anthropic": "tool_use",
    "responses": "completed",
    "gemini": "STOP",
}
PROMPT = "What will the weather be like in Zürich this week?"
TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "The forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
    {
        "name": "get_time",
        "description": "The local time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
]
#: The text the Anthropic scenario writes before its tool calls (streamkit/server/scenarios.py).
ANTHROPIC_TOOL_PREAMBLE = "Let me look that up."
DISCONNECT = "disconnect-after=5;first-attempts=1"
#: Gemini's answer with two tool calls is three events (see the module docstring).
GEMINI_TOOLS_DISCONNECT = "disconnect-after=1;first-attempts=1"
#: Deterministic backoff (the jitter draw is always one half), short enough for tests.
POLICY = sk.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, random=lambda: 0.5)
TIMEOUTS = sk.Timeouts(connect=5, first_token=5, idle=5, total=30)
WORD = re.compile(r"\s*\S+")


def request_body(format_name: str, *, tools: bool = False, usage: bool = True) -> dict[str, Any]:
    """The provider's request body for PROMPT, offering TOOLS in that provider's shape."""
    if format_name == "responses":
        body = {"model": "streamkit-echo", "max_output_tokens": 1024, "input": PROMPT}
        if tools:
            body["tools"] = [{"type": "function", **tool} for tool in TOOLS]
        return body
    if format_name == "gemini":
        body = {
            "model": "streamkit-echo",
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": 1024},
        }
        if tools:
            body["tools"] = [{"functionDeclarations": TOOLS}]
        return body
    body = {
        "model": "streamkit-echo",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if format_name == "openai":
        if usage:
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = [{"type": "function", "function": tool} for tool in TOOLS]
    elif tools:
        body["tools"] = [
            {
                "name": tool["name"],
                "description": tool["description"],
                "input_schema": tool["parameters"],
            }
            for tool in TOOLS
        ]
    return body


def request_headers(
    format_name: str, *, tool_calls: int = 0, fault: str | None = None
) -> dict[str, str]:
    """Scenario headers; the session keeps each format's ``first-attempts`` count apart."""
    headers = {"x-streamkit-session": f"pipeline-{format_name}"}
    if tool_calls:
        headers["x-streamkit-tool-calls"] = str(tool_calls)
    if fault is not None:
        headers["x-streamkit-fault"] = fault
    return headers


@dataclass(frozen=True, slots=True)
class Outcome:
    """What every branch of the pipeline ended with, for one run."""

    message: sk.Message
    events: list[sk.StreamEvent]
    buffered: list[str]
    smoothed: list[str]
    stats: sk_ops.StreamStats


def fan_out(shared: Observable[sk.StreamEvent]) -> Observable[tuple[Any, ...]]:
    """The message, the buffered text and the smoothed words, and every event, at the end."""
    return reactivex.fork_join(
        shared.pipe(sk.to_message()),
        shared.pipe(sk_ops.buffer_text(count=8, seconds=0.05), rx_ops.to_list()),
        shared.pipe(sk_ops.smooth("words"), rx_ops.to_list()),
        shared.pipe(rx_ops.to_list()),
    )


async def run_pipeline(
    server: EmbeddedServer,
    format_name: FormatName,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    resume: sk_ops.ResumeMode = "continue",
) -> Outcome:
    """Stream one answer through the pipeline of the module docstring; one HTTP request."""
    endpoint = sk.ChatEndpoint(
        server.url, format=format_name, api_key="test-key", headers=headers, timeouts=TIMEOUTS
    )
    meter = sk_ops.ProgressMeter()
    events = endpoint.stream(body, retry=POLICY, resume=resume).pipe(
        sk_ops.measure_progress(meter),
        sk_ops.assemble_tool_calls(),
    )
    # publish with a selector subscribes every branch, then connects: one request feeds them all.
    branches = events.pipe(rx_ops.publish(fan_out))
    [(message, buffered, smoothed, seen)] = await sk.collect(branches)
    stats = meter.summary
    assert stats is not None, "the meter has no summary after the stream completed"
    return Outcome(message, list(seen), list(buffered), list(smoothed), stats)


def fault_for(format_name: str, fault: str | None, *, tool_calls: int) -> str | None:
    """The fault header for one format: Gemini's tool-call answer is cut sooner."""
    if fault is not None and format_name == "gemini" and tool_calls:
        return GEMINI_TOOLS_DISCONNECT
    return fault


async def run_both(
    server: EmbeddedServer,
    *,
    tool_calls: int = 0,
    fault: str | None = None,
    resume: sk_ops.ResumeMode = "continue",
) -> dict[str, Outcome]:
    """The same prompt through the same pipeline, once per format."""
    return {
        name: await run_pipeline(
            server,
            name,
            request_body(name, tools=tool_calls > 0),
            request_headers(
                name,
                tool_calls=tool_calls,
                fault=fault_for(name, fault, tool_calls=tool_calls),
            ),
            resume=resume,
        )
        for name in FORMATS
    }


def calls_of(message: sk.Message) -> list[tuple[str, Any]]:
    """Each tool call's name and parsed arguments, in order."""
    return [(call.name, call.arguments) for call in message.tool_calls]


def output_tokens(message: sk.Message) -> int:
    assert message.usage is not None, "no usage reported"
    assert message.usage.output_tokens is not None, "usage without output tokens"
    return message.usage.output_tokens


def retries(outcome: Outcome) -> list[sk.Retrying]:
    return [event for event in outcome.events if isinstance(event, sk.Retrying)]


def output_before_retry(outcome: Outcome) -> int:
    """Server tokens delivered before the retry: text words plus tool-argument fragments."""
    events = outcome.events
    cut = next(i for i, event in enumerate(events) if isinstance(event, sk.Retrying))
    text = "".join(e.text for e in events[:cut] if isinstance(e, sk.TextDelta))
    fragments = sum(isinstance(e, sk.ToolCallDelta) for e in events[:cut])
    return len(tokens(text)) + fragments


def tokens_before_retry(outcome: Outcome) -> int:
    """The meter's count of the events before the first retry, measured on their own."""
    events = outcome.events
    cut = next(i for i, event in enumerate(events) if isinstance(event, sk.Retrying))
    before = StatsAccumulator(started_at=0.0)
    for event in events[:cut]:
        before.step(event, now=0.0)
    return before.stats(now=0.0).tokens


def assert_branches_agree(outcome: Outcome) -> None:
    """The text paths join to the message text; the meter counts what the server reported."""
    message, stats = outcome.message, outcome.stats
    assert "".join(outcome.buffered) == message.text
    assert all(outcome.buffered), "buffer_text emitted an empty string"
    assert "".join(outcome.smoothed) == message.text
    assert [unit for unit in outcome.smoothed if not WORD.fullmatch(unit)] == []
    if any(retry.continued for retry in retries(outcome)):
        # The continuation's usage covers only the rest: the meter adds it to what it counted
        # before the retry.
        assert stats.tokens == tokens_before_retry(outcome) + output_tokens(message)
    else:
        assert stats.tokens == output_tokens(message)
        assert stats.tokens_source == "usage"
    assert stats.finished
    assert stats.finish_reason == message.finish_reason
    assert stats.retries == len(retries(outcome))


def assert_calls_emitted_as_they_complete(outcome: Outcome) -> None:
    """assemble_tool_calls put each whole call into the stream, before the answer's Finish."""
    emitted = [event for event in outcome.events if isinstance(event, sk.ToolCall)]
    assert [(c.name, c.arguments) for c in emitted] == calls_of(outcome.message)
    assert all(call.valid for call in emitted)
    finish = next(i for i, e in enumerate(outcome.events) if isinstance(e, sk.Finish))
    first_call = outcome.events.index(emitted[0])
    assert first_call < finish


async def test_plain_answer_gives_identical_messages_in_every_format(
    embedded_server: EmbeddedServer,
) -> None:
    runs = await run_both(embedded_server)
    messages = {name: outcome.message for name, outcome in runs.items()}

    expected = answer_for(request_body("openai"))
    for name, message in messages.items():
        assert message.text == expected, name
        assert message.tool_calls == (), name
        assert message.finish_reason == "stop", name
        assert message.choices[0].raw_finish_reason == RAW_STOP[name]
        assert output_tokens(message) == len(tokens(expected)), name
        # Converted to one shape, the messages agree in every choice field.
        assert message.to_openai()["choices"] == messages["openai"].to_openai()["choices"], name
        assert runs[name].smoothed == runs["openai"].smoothed, name
    # The branches share one request per format.
    assert [r.path for r in embedded_server.requests] == [PATHS[name] for name in FORMATS]
    for outcome in runs.values():
        assert_branches_agree(outcome)
        assert retries(outcome) == []


async def test_parallel_tool_calls_give_the_same_calls_in_every_format(
    embedded_server: EmbeddedServer,
) -> None:
    runs = await run_both(embedded_server, tool_calls=2)
    messages = {name: outcome.message for name, outcome in runs.items()}
    openai, anthropic = messages["openai"], messages["anthropic"]

    assert [name for name, _ in calls_of(openai)] == ["get_weather", "get_time"]
    schemas = {tool["name"]: tool["parameters"] for tool in TOOLS}
    for name, arguments in calls_of(openai):  # arguments follow each tool's schema
        jsonschema.validate(arguments, schemas[name])
    for name, message in messages.items():
        assert calls_of(message) == calls_of(openai), name
        assert message.finish_reason == "tool_calls", name
        assert message.choices[0].raw_finish_reason == RAW_TOOL_CALLS[name]
        prefix = "toolu_" if name == "anthropic" else "call_"
        assert [c.id[: len(prefix)] for c in message.tool_calls] == [prefix, prefix], name
        # The known difference: Anthropic writes a short text before its calls, the others none.
        if name != "anthropic":
            assert message.text == "", name
            assert output_tokens(message) == output_tokens(openai), name
    assert anthropic.text == ANTHROPIC_TOOL_PREAMBLE
    preamble_tokens = len(tokens(ANTHROPIC_TOOL_PREAMBLE))
    assert output_tokens(anthropic) == output_tokens(openai) + preamble_tokens
    for outcome in runs.values():
        assert_branches_agree(outcome)
        assert_calls_emitted_as_they_complete(outcome)


@pytest.mark.parametrize("resume", ["continue", "restart"])
@pytest.mark.parametrize("tool_calls", [0, 2], ids=["text", "tool-calls"])
async def test_answer_resumed_after_a_disconnect_equals_the_fault_free_one(
    embedded_server: EmbeddedServer, resume: sk_ops.ResumeMode, tool_calls: int
) -> None:
    clean = await run_both(embedded_server, tool_calls=tool_calls)
    requests_before = len(embedded_server.requests)
    faulty = await run_both(embedded_server, tool_calls=tool_calls, fault=DISCONNECT, resume=resume)

    # Per format: what the pipeline ends with is what it ends with when nothing fails.
    for name in FORMATS:
        resumed, reference = faulty[name].message, clean[name].message
        assert resumed.text == reference.text, name
        assert calls_of(resumed) == calls_of(reference), name
        assert resumed.finish_reason == reference.finish_reason, name
        assert [r.attempt for r in retries(faulty[name])] == [2], name
        assert_branches_agree(faulty[name])
        if tool_calls:
            assert_calls_emitted_as_they_complete(faulty[name])
        if not any(r.continued for r in retries(faulty[name])):  # restarted: the whole answer
            assert output_tokens(resumed) == output_tokens(reference), name
        else:  # usage is the continuation request's own
            delivered = output_before_retry(faulty[name])
            assert output_tokens(resumed) == output_tokens(reference) - delivered, name
        if resume == "continue" and not tool_calls:
            assert [r.continued for r in retries(faulty[name])] == [True], name
    new_requests = embedded_server.requests[requests_before:]
    assert [r.path for r in new_requests] == [PATHS[name] for name in FORMATS for _ in (1, 2)]

    # Across formats: the same as in the fault-free tests above.
    openai = faulty["openai"].message
    for name in FORMATS:
        message = faulty[name].message
        assert calls_of(message) == calls_of(openai), name
        assert message.finish_reason == openai.finish_reason, name
        if tool_calls:
            assert message.text == (ANTHROPIC_TOOL_PREAMBLE if name == "anthropic" else ""), name
        else:
            assert message.text == answer_for(request_body("openai")), name


async def test_openai_reports_usage_only_when_the_request_asks(
    embedded_server: EmbeddedServer,
) -> None:
    endpoint = sk.ChatEndpoint(embedded_server.url, format="openai", api_key="test-key")
    body = request_body("openai", usage=False)
    measure = sk_ops.measure_progress()

    message = await sinks.collect_message(endpoint.stream(body).pipe(measure))

    assert message.text == answer_for(body)
    assert message.usage is None
    stats = measure.meter.summary
    assert stats is not None
    assert stats.tokens_source == "estimate"
    assert stats.tokens == sk_ops.estimate_tokens(message.text)
