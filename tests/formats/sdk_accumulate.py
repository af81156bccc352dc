"""What the official SDKs accumulate from a recorded response body, driven with no network.

Each SDK's streaming helper (``client.chat.completions.stream(...).get_final_completion()`` and
``client.messages.stream(...).get_final_message()``) reads the bytes through an in-memory HTTP
transport, so the comparison with ``Message.to_openai()`` / ``to_anthropic()`` sees exactly the
bytes streamkit decoded.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2 as httpx
import openai

__all__ = ["anthropic_final_message", "openai_final_completion"]


def _transport(body: bytes) -> httpx.MockTransport:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx.MockTransport(respond)


def openai_final_completion(body: bytes) -> dict[str, Any]:
    """``get_final_completion()`` of the openai SDK over ``body``, as a dict."""
    http = httpx.Client(transport=_transport(body))
    client = openai.OpenAI(
        base_url="http://127.0.0.1:9/v1", api_key="test", http_client=http, max_retries=0
    )
    with (
        client,
        client.chat.completions.stream(
            model="m", messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        try:
            return stream.get_final_completion().to_dict()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            # The helper refuses to parse such an answer but keeps what it accumulated.
            return exc.completion.to_dict()


def anthropic_final_message(body: bytes) -> dict[str, Any]:
    """``get_final_message()`` of the anthropic SDK over ``body``, as a dict."""
    http = httpx.Client(transport=_transport(body))
    client = anthropic.Anthropic(
        base_url="http://127.0.0.1:9", api_key="test", http_client=http, max_retries=0
    )
    with (
        client,
        client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        return stream.get_final_message().to_dict()
