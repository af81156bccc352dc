"""One rule decides which names hold credentials, for redaction, recordings and the server."""

from __future__ import annotations

import pytest

from streamkit._credentials import is_credential_name


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "openai_api_key",
        "ANTHROPIC-API-KEY",
        "apiKey",
        "access_token",
        "client_secret",
        "password",
        "Cookie",
        "proxy-authorization",
    ],
)
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name", ["max_tokens", "input_tokens", "content-type", "x-request-id", "keyboard", "model"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_credential_name(name)
