"""Every transcript, recorded from real servers or written from their bug reports, decodes the
same whatever the split of its bytes, and converts back to what the official SDKs accumulate.

``transcripts/*.sse`` are raw bodies; ``transcripts/recorded/*.jsonl`` are ``streamkit.record``
files from a LiteLLM proxy and llama-cpp-python's server (see ``record_transcripts.py``, which
re-records them). The SDK side reads the same bytes through an in-memory HTTP transport.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.chat_decoder import ChatDecoder
from streamkit.errors import APIStatusError, ConnectionLostError
from streamkit.events import ContentEvent
from streamkit.exact_json import join_surrogates
from streamkit.fold.message_builder import build_message
from streamkit.formats import FormatName
from streamkit.record import load_recording
from tests.formats.sdk_accumulate import anthropic_final_message, openai_final_completion
from tests.formats.transcript_files import TRANSCRIPTS, format_of


def _transcripts() -> Iterator[tuple[str, FormatName, bytes]]:
    for path in sorted(TRANSCRIPTS.glob("**/*.sse")):
        yield path.stem, format_of(path.name), path.read_bytes()
    for path in sorted(TRANSCRIPTS.glob("recorded/*.jsonl")):
        recording = load_recording(path)
        yield path.stem, recording.format, recording.body


def decode(fmt: FormatName, pieces: list[bytes]) -> list[ContentEvent]:
    decoder = ChatDecoder(fmt)
    events = [event for piece in pieces for event in decoder.feed(piece)]
    decoder.close()
    return events


def _complete(name: str, fmt: FormatName, body: bytes) -> bool:
    """Whether the stream is a whole answer (not one that ends in an error event)."""
    try:
        decode(fmt, [body])
    except APIStatusError:
        return False
    return True


ALL = [t for t in _transcripts() if _complete(*t)]
IDS = [name for name, _, _ in ALL]


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, *(c % (len(body) + 1) for c in cuts), len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def test_there_are_recordings_from_real_servers() -> None:
    assert any(name.startswith("litellm_") for name in IDS)
    assert any(name.startswith("llama_") for name in IDS)


@pytest.mark.parametrize(("name", "fmt", "body"), ALL, ids=IDS)
@given(cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_gives_the_same_events_and_message(
    name: str, fmt: FormatName, body: bytes, cuts: list[int]
) -> None:
    whole = decode(fmt, [body])
    pieces = decode(fmt, split(body, cuts))
    assert pieces == whole
    assert [e.raw for e in pieces] == [e.raw for e in whole]
    assert build_message(pieces, invalid="emit") == build_message(whole, invalid="emit")


@pytest.mark.parametrize(("name", "fmt", "body"), ALL, ids=IDS)
def test_byte_by_byte_gives_the_same_message(name: str, fmt: FormatName, body: bytes) -> None:
    whole = build_message(decode(fmt, [body]), invalid="emit")
    assert build_message(decode(fmt, [bytes([b]) for b in body]), invalid="emit") == whole


# -- the SDKs -------------------------------------------------------------------------------------

# Keys the SDKs' helpers add that no API response has: parsed output, and the tool call index
# of a streamed delta. Dropped from the SDK's side only.
_SDK_ONLY = frozenset({"parsed", "parsed_arguments", "parsed_output"})
# Keys the SDK sets to None when the stream said nothing of them (the API leaves them out).
_NONE_IS_ABSENT = frozenset(
    {
        "annotations",
        "audio",
        "function_call",
        "tool_calls",
        "stop_details",
        "container",
        "usage",
        "logprobs",
    }
)


def normalize(value: Any, *, sdk: bool) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if sdk and key in _SDK_ONLY:
                continue
            if key in _NONE_IS_ABSENT and item is None:
                continue
            out[key] = normalize(item, sdk=sdk)
        return out
    if isinstance(value, list):
        items = [normalize(item, sdk=sdk) for item in value]
        if sdk and items and all(isinstance(i, dict) and "function" in i for i in items):
            items = [{k: v for k, v in i.items() if k != "index"} for i in items]
        return items
    return value


def _assistant_role(completion: dict[str, Any]) -> dict[str, Any]:
    for choice in completion["choices"]:
        choice["message"]["role"] = "assistant"
    return completion


def _without_function_call(completion: dict[str, Any]) -> dict[str, Any]:
    for choice in completion["choices"]:
        choice["message"].pop("function_call", None)
    return _assistant_role(completion)


def _joined_surrogates(completion: dict[str, Any]) -> dict[str, Any]:
    for choice in completion["choices"]:
        for call in choice["message"].get("tool_calls") or ():
            call["function"]["arguments"] = join_surrogates(call["function"]["arguments"])
    return completion


def _null_content_beside_tool_calls(completion: dict[str, Any]) -> dict[str, Any]:
    for choice in completion["choices"]:
        message = choice["message"]
        if message.get("tool_calls") and message.get("content") == "":
            message["content"] = None
    return completion


def _unrepeated(text: str) -> str:
    """``text`` without the repeats the SDK's joining made of a value sent in every chunk."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def _unrepeated_ids_and_names(completion: dict[str, Any]) -> dict[str, Any]:
    for choice in completion["choices"]:
        for call in choice["message"].get("tool_calls") or ():
            call["id"] = _unrepeated(call["id"])
            call["function"]["name"] = _unrepeated(call["function"]["name"])
    return _without_function_call(completion)


# Where the SDK's own accumulation loses or corrupts what the server sent, streamkit keeps it:
# each such transcript is compared on everything else, the SDK's error undone (None: skipped).
SDK_DIFFERS: dict[str, tuple[str, Any]] = {
    "openai_gemini_tools": ("the SDK merges calls that share an index", None),
    "litellm_n2_repeated_role": (
        "the SDK joins a repeated role: 'assistantassistant...'",
        _assistant_role,
    ),
    "llama_cpp_function_call_and_tool_calls": (
        "the SDK keeps the legacy function_call copy of the call, and joins repeated roles",
        _without_function_call,
    ),
    "openai_first_delta_without_role": (
        "the SDK says role None when no delta names it; a completion's role is 'assistant'",
        _assistant_role,
    ),
    "anthropic_data_after_stop": ("the SDK fails on what follows message_stop", None),
    "llama_tool_call": (
        "the SDK joins the id and name llama-cpp-python repeats in every chunk, and keeps "
        "the legacy function_call copy",
        _unrepeated_ids_and_names,
    ),
    "litellm_forward_tools": (
        "the SDK says content '' beside tool calls when the role chunk said content ''; "
        "streamkit says null there, as the non-streaming API does",
        _null_content_beside_tool_calls,
    ),
    "openai_big_ints_and_split_surrogates": (
        "the SDK leaves the halves of a split surrogate pair apart (a str UTF-8 cannot encode)",
        _joined_surrogates,
    ),
}


def _sdk_side(name: str, expected: dict[str, Any]) -> dict[str, Any]:
    if name not in SDK_DIFFERS:
        return expected
    reason, undo = SDK_DIFFERS[name]
    if undo is None:
        pytest.skip(reason)
    return undo(expected)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "fmt", "body"), [t for t in ALL if t[1] == "openai"], ids=lambda v: v
)
def test_to_openai_is_what_the_openai_sdk_accumulates(
    name: str, fmt: FormatName, body: bytes
) -> None:
    if SDK_DIFFERS.get(name, ("", True))[1] is None:
        pytest.skip(SDK_DIFFERS[name][0])
    message = build_message(decode(fmt, [body]), invalid="emit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic's serializer warnings on unknown shapes
        expected = _sdk_side(name, openai_final_completion(body))
    assert normalize(message.to_openai(), sdk=False) == normalize(expected, sdk=True)


@pytest.mark.parametrize(
    ("name", "fmt", "body"), [t for t in ALL if t[1] == "anthropic"], ids=lambda v: v
)
def test_to_anthropic_is_what_the_anthropic_sdk_accumulates(
    name: str, fmt: FormatName, body: bytes
) -> None:
    if SDK_DIFFERS.get(name, ("", True))[1] is None:
        pytest.skip(SDK_DIFFERS[name][0])
    message = build_message(decode(fmt, [body]), invalid="emit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic's serializer warnings on unknown block types
        expected = normalize(_sdk_side(name, anthropic_final_message(body)), sdk=True)
    ours = normalize(message.to_anthropic(), sdk=False)
    for mine, theirs in zip(ours["content"], expected["content"], strict=True):
        if mine["type"] not in _SDK_TRACKS_INPUT and "input" in mine:
            # The SDK drops the streamed input of blocks it has no type for (mcp_tool_use,
            # newer kinds); streamkit keeps it. Everything else must agree.
            theirs["input"] = mine["input"]
    assert ours == expected


# Block types whose streamed input_json_delta the anthropic SDK folds into ``input``.
_SDK_TRACKS_INPUT = frozenset({"tool_use", "server_tool_use"})


@pytest.mark.parametrize("name", ["openai_text", "anthropic_text"])
def test_a_cut_stream_raises_connection_lost_where_the_sdks_return_a_partial_result(
    name: str,
) -> None:
    fmt, body = next((f, b) for n, f, b in ALL if n == name)
    end = body.index(b"\n\n", body.index(b"Hello")) + 2
    cut = body[:end]  # whole events up to the first text: a clean break between two events
    decoder = ChatDecoder(fmt)
    events = decoder.feed(cut)
    with pytest.raises(ConnectionLostError):
        decoder.close()
    assert build_message(events).text.startswith("Hello")  # what came before is delivered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "openai":
            partial = openai_final_completion(cut)["choices"][0]
            assert partial["finish_reason"] is None  # no error: a silent partial result
        else:
            assert anthropic_final_message(cut)["stop_reason"] is None
