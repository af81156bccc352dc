"""``ChatEndpoint``'s URLs: each format's path, Gemini's named after the body's model."""

from __future__ import annotations

import pytest

from streamkit.client import ChatEndpoint


@pytest.mark.parametrize(
    ("format_name", "path"),
    [
        ("openai", "/v1/chat/completions"),
        ("anthropic", "/v1/messages"),
        ("responses", "/v1/responses"),
    ],
)
@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/"])
def test_url_is_the_root_and_the_format_s_path(base_url: str, format_name: str, path: str) -> None:
    endpoint = ChatEndpoint(base_url, format=format_name)  # type: ignore[arg-type]
    assert endpoint.url == endpoint.url_for({"model": "m"}) == "http://127.0.0.1:8000" + path


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "http://127.0.0.1:8000/v1beta"])
def test_a_gemini_url_names_the_body_s_model(base_url: str) -> None:
    endpoint = ChatEndpoint(base_url, format="gemini")
    url = endpoint.url_for({"model": "models/gemini-2.5-flash", "contents": []})
    assert url == (
        "http://127.0.0.1:8000/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )


def test_a_gemini_body_without_model_fails_before_any_request() -> None:
    endpoint = ChatEndpoint("http://127.0.0.1:9", format="gemini")
    with pytest.raises(ValueError, match="'model'"):
        endpoint.stream({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
