"""Reading the body ``useChat`` sends into a provider request."""

from __future__ import annotations

import pytest

from streamkit.relay import chat_request


def ui(role: str, *texts: str, extra: list[dict[str, object]] | None = None) -> dict[str, object]:
    parts: list[dict[str, object]] = [{"type": "text", "text": t} for t in texts]
    return {"id": f"{role}-1", "role": role, "parts": [*parts, *(extra or [])]}


USE_CHAT_BODY = {
    "id": "chat-1",
    "trigger": "submit-message",
    "messages": [
        ui("system", "Be brief."),
        ui("user", "Hello ", "there"),
        ui("assistant", "Hi!", extra=[{"type": "step-start"}, {"type": "reasoning", "text": "…"}]),
        ui("user", "Weather?"),
    ],
}


def test_openai_gets_system_messages_first_and_usage_asked_for() -> None:
    body = chat_request(USE_CHAT_BODY, format="openai", model="m", max_tokens=50)
    assert body == {
        "model": "m",
        "max_tokens": 50,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Weather?"},
        ],
    }


def test_anthropic_gets_the_system_prompt_apart() -> None:
    body = chat_request(USE_CHAT_BODY, format="anthropic", model="m")
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_messages_without_text_are_dropped_and_old_content_is_accepted() -> None:
    body = chat_request(
        {
            "messages": [
                {"role": "user", "content": "old shape"},
                ui("assistant", extra=[{"type": "tool-get_weather", "toolCallId": "c"}]),
            ]
        },
        format="openai",
        model="m",
    )
    assert body["messages"] == [{"role": "user", "content": "old shape"}]


@pytest.mark.parametrize(
    "bad",
    [{}, {"messages": "hi"}, {"messages": [{"role": "tool", "parts": []}]}, {"messages": []}],
)
def test_a_body_that_is_not_a_chat_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        chat_request(bad, format="openai", model="m")
