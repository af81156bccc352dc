"""Issue 11: each bug found against real servers, replayed from its transcript.

Every test is named for the bug it pins down and decodes a transcript in
``tests/formats/transcripts/`` through the public ``ChatDecoder``, whole; the property tests in
``test_transcripts.py`` add every split of the same bytes and the SDKs' view of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streamkit.chat_decoder import ChatDecoder
from streamkit.errors import ServerError
from streamkit.events import (
    BlockDelta,
    BlockStart,
    Citation,
    ContentEvent,
    Logprobs,
    ProviderData,
    StreamStart,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.formats import FormatName
from streamkit.message import Message, OtherBlock, ReasoningBlock, TextBlock, TokenLogprobs

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def decode(name: str) -> list[ContentEvent]:
    fmt: FormatName = "anthropic" if name.startswith("anthropic") else "openai"
    decoder = ChatDecoder(fmt)
    events = decoder.feed((TRANSCRIPTS / name).read_bytes())
    decoder.close()
    return events


def message(name: str) -> Message:
    return build_message(decode(name))


# 1 --------------------------------------------------------------------------------------------


def test_bug1_interleaved_tool_call_fragments_are_not_cut_off() -> None:
    events = decode("openai_interleaved_tool_calls.sse")
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    last_delta = max(i for i, e in enumerate(events) if isinstance(e, ToolCallDelta))
    assert all(events.index(end) > last_delta for end in ends)  # ended at finish_reason only
    calls = message("openai_interleaved_tool_calls.sse").tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_w", "get_weather", {"city": "Paris"}),
        ("call_t", "get_time", {"tz": "CET"}),
    ]


# 2 --------------------------------------------------------------------------------------------


def test_bug2_function_call_and_tool_calls_for_one_call_are_one_call() -> None:
    result = message("llama_cpp_function_call_and_tool_calls.sse")
    (call,) = result.tool_calls
    assert call.raw_arguments == '{ "city": "Paris" }'  # each fragment once, not twice
    assert (call.id, call.name, call.arguments) == (
        "call__0_get_weather_cmpl-llama",
        "get_weather",
        {"city": "Paris"},
    )


# 3 --------------------------------------------------------------------------------------------


def test_bug3_a_role_repeated_in_every_chunk_starts_its_choice_once() -> None:
    events = decode("litellm_n2_repeated_role.sse")
    assert [e.choice for e in events if isinstance(e, StreamStart)] == [0, 1]
    result = message("litellm_n2_repeated_role.sse")
    assert [(c.index, c.text) for c in result.choices] == [
        (0, "One two three"),
        (1, "Two two three"),
    ]


# 4 --------------------------------------------------------------------------------------------


def test_bug4_a_first_delta_without_role_still_gives_id_and_model() -> None:
    events = decode("openai_first_delta_without_role.sse")
    assert isinstance(events[0], StreamStart)
    result = message("openai_first_delta_without_role.sse")
    assert (result.id, result.model, result.role) == (
        "chatcmpl-norole",
        "mistral-small",
        "assistant",
    )
    assert result.text == "No role here."
    assert result.created == 1731000000


# 5 --------------------------------------------------------------------------------------------


def test_bug5_text_blocks_keep_their_index_kind_and_order() -> None:
    events = decode("anthropic_text_blocks.sse")
    assert [(e.index, e.kind) for e in events if isinstance(e, BlockStart)] == [
        (0, "text"),
        (1, "tool_use"),
        (2, "text"),  # the empty block has an event
        (3, "text"),
    ]
    result = message("anthropic_text_blocks.sse")
    (choice,) = result.choices
    assert [type(b).__name__ for b in choice.content] == [
        "TextBlock",
        "ToolCall",
        "TextBlock",
        "TextBlock",
    ]
    assert choice.content[0] == TextBlock(0, "First.")
    assert choice.content[2] == TextBlock(2, "")
    assert choice.content[3] == TextBlock(3, "Second.")
    assert [block["type"] for block in result.to_anthropic()["content"]] == [
        "text",
        "tool_use",
        "text",
        "text",
    ]
    assert [b.get("text") for b in result.to_anthropic()["content"]] == [
        "First.",
        None,
        "",
        "Second.",
    ]


# 6 --------------------------------------------------------------------------------------------


def test_bug6_openai_metadata_has_a_typed_home() -> None:
    result = message("openai_metadata_and_logprobs.sse")
    assert (result.created, result.system_fingerprint, result.service_tier) == (
        1731000000,
        "fp_meta",
        "default",
    )
    assert result.usage is not None
    assert (result.usage.cached_input_tokens, result.usage.reasoning_tokens) == (1024, 0)
    assert result.usage.details["prompt_tokens_details"] == {
        "cached_tokens": 1024,
        "audio_tokens": 0,
    }
    logprobs = result.choices[0].logprobs
    assert logprobs is not None and logprobs.refusal is None
    assert [token["token"] for token in logprobs.content or ()] == ["Hi", "", " there"]
    body = result.to_openai()
    assert body["created"] == 1731000000 and body["service_tier"] == "default"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert body["choices"][0]["logprobs"]["content"][2]["token"] == " there"


def test_bug6_anthropic_cache_usage_tier_and_stop_sequence_have_a_typed_home() -> None:
    result = message("anthropic_cache_usage_and_stop_sequence.sse")
    usage = result.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (12, 9)
    assert (usage.cache_creation_input_tokens, usage.cached_input_tokens) == (2048, 0)
    assert result.service_tier == "standard"
    assert result.choices[0].stop_sequence == "###"
    body = result.to_anthropic()
    assert body["stop_sequence"] == "###"
    assert body["usage"] == {  # message_start's usage with message_delta's merged in
        "input_tokens": 12,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 9,
        "service_tier": "standard",
        "server_tool_use": {"web_search_requests": 2},
    }


# 7 --------------------------------------------------------------------------------------------


def test_bug7_citations_and_server_tool_blocks_become_events() -> None:
    events = decode("anthropic_server_tools.sse")
    assert any(isinstance(e, Citation) for e in events)
    assert any(isinstance(e, BlockDelta) for e in events)
    kinds = [e.kind for e in events if isinstance(e, BlockStart)]
    assert "server_tool_use" in kinds and "web_search_tool_result" in kinds
    content = message("anthropic_server_tools.sse").choices[0].content
    server = [b for b in content if isinstance(b, OtherBlock)]
    assert server[0].data["input"] == {"query": "weather Paris"}
    texts = [b for b in content if isinstance(b, TextBlock)]
    assert texts[1].citations[0]["cited_text"] == "Sunny, 21 C"
    assert not [
        c for c in message("anthropic_server_tools.sse").tool_calls if c.id.startswith("srv")
    ]


def test_bug7_logprobs_of_an_empty_piece_and_azure_prompt_filters_become_events() -> None:
    events = decode("openai_metadata_and_logprobs.sse")
    logprobs = [e for e in events if isinstance(e, Logprobs)]
    assert [len(e.content or ()) for e in logprobs] == [0, 1, 1, 1]  # "" pieces included
    azure = decode("openai_azure_prompt_filter.sse")
    assert isinstance(azure[0], ProviderData)
    assert azure[0].kind == "prompt_filter_results"
    result = message("openai_azure_prompt_filter.sse")
    assert result.provider_data[0].data[0]["prompt_index"] == 0
    assert (result.id, result.text) == ("chatcmpl-azure", "Safe.")


# 8 --------------------------------------------------------------------------------------------


def test_bug8_thinking_signatures_are_whole_values_and_redacted_data_is_kept() -> None:
    result = message("anthropic_signatures.sse")
    blocks = result.choices[0].reasoning_blocks
    assert blocks == (
        ReasoningBlock(0, text="Think.", signature="SIG_FINAL"),  # the last one, as the SDK
        ReasoningBlock(1, text="Again.", signature="SIG_ONLY_AT_START"),
        ReasoningBlock(2, "redacted", text="EmwKAhgBEgyREDACTED"),
    )
    content = result.to_anthropic()["content"]
    assert content[0]["signature"] == "SIG_FINAL"
    assert content[1]["signature"] == "SIG_ONLY_AT_START"
    assert content[2] == {"type": "redacted_thinking", "data": "EmwKAhgBEgyREDACTED"}


# 9 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openai_data_after_done.sse", "anthropic_data_after_stop.sse"])
def test_bug9_data_after_the_end_marker_is_ignored_whatever_the_split(name: str) -> None:
    body = (TRANSCRIPTS / name).read_bytes()
    fmt: FormatName = "anthropic" if name.startswith("anthropic") else "openai"
    whole = decode(name)
    for cut in range(len(body) + 1):
        decoder = ChatDecoder(fmt)
        events = decoder.feed(body[:cut]) + decoder.feed(body[cut:])
        decoder.close()  # no error: the answer ended at its marker
        assert events == whole, cut
    assert "after the end" not in build_message(whole).text


# 10 -------------------------------------------------------------------------------------------


def test_bug10_big_integers_and_split_surrogate_pairs_round_trip_exactly() -> None:
    result = message("openai_big_ints_and_split_surrogates.sse")
    (call,) = result.tool_calls
    assert call.arguments == {"id": 18446744073709551616123, "mood": "😀"}
    assert isinstance(call.arguments["id"], int)
    assert call.raw_arguments == '{"id": 18446744073709551616123, "mood": "😀"}'
    assert result.usage is not None
    assert result.usage.details["cost_nano_units"] == 18446744073709551616123  # in raw too
    usage_event = [
        e for e in decode("openai_big_ints_and_split_surrogates.sse") if isinstance(e, Usage)
    ]
    assert usage_event[0].raw["usage"]["cost_nano_units"] == 18446744073709551616123
    assert result.to_openai()["usage"]["cost_nano_units"] == 18446744073709551616123


# 11 -------------------------------------------------------------------------------------------


def test_bug11_an_http_status_in_code_is_a_status_and_the_error_is_one_line() -> None:
    with pytest.raises(ServerError) as info:
        decode("openai_code_status_error.sse")
    error = info.value
    assert error.status == 500 and error.error_type is None
    assert "500 500" not in str(error)
    assert str(error).startswith("500 error: litellm.APIConnectionError: upstream failed")
    assert "\n" not in str(error)  # one line for logs and the CLI
    assert error.message.count("\n") == 2  # the provider's message itself is kept whole


# -- the Message says it all ------------------------------------------------------------------


def test_token_logprobs_follow_the_openai_sdk_rules() -> None:
    assert message("openai_metadata_and_logprobs.sse").choices[0].logprobs == TokenLogprobs(
        content=tuple(
            {"token": t, "logprob": -0.25, "bytes": list(t.encode()), "top_logprobs": []}
            for t in ("Hi", "", " there")
        ),
        refusal=None,
    )


def test_opening_a_block_is_no_token_for_the_first_token_deadline() -> None:
    from streamkit.chat_decoder import is_content

    events = decode("anthropic_text_blocks.sse")
    first = next(e for e in events if is_content(e))
    assert type(first).__name__ == "TextDelta"
    azure = decode("openai_azure_prompt_filter.sse")
    assert not is_content(azure[0])  # ProviderData
