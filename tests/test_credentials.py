"""One rule decides which names hold credentials, for redaction, recordings and the server."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from streamkit._credentials import is_credential_name
from streamkit.record import Recorder
from streamkit.server import EmbeddedServer
from streamkit.sinks.jsonl import read_jsonl


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "openai_api_key",
        "ANTHROPIC-API-KEY",
        "apiKey",
        "APIKey",
        "apikey",
        "access_token",
        "x-access-token",
        "accessToken",
        "X-Auth-Token",
        "x-custom-bearer",
        "bearer",
        "client_secret",
        "clientSecret",
        "password",
        "db_passwd",
        "Cookie",
        "Set-Cookie",
        "x-amz-signature",
        "X-Hub-Signature-256",
        "x-session",
        "sessionId",
        "JSESSIONID",
        "x-csrf-token",
        "private_key",
        "x-amz-security-token",
    ],
)
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "max_tokens",
        "input_tokens",
        "budget_tokens",
        "x-ratelimit-remaining-tokens",
        "content-type",
        "x-request-id",
        "keyboard",
        "monkey",
        "model",
        "user-agent",
        "anthropic-version",
    ],
)
def test_ordinary_names(name: str) -> None:
    assert not is_credential_name(name)


NEW_NAMES = {
    "x-custom-bearer": "bearer-canary-1",
    "x-access-token": "token-canary-2",
    "x-session": "session-canary-3",
    "x-hub-signature": "signature-canary-4",
}


def test_recordings_drop_every_credential_name(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    body = {"model": "m", "messages": [], "metadata": dict(NEW_NAMES)}
    Recorder(path, format="openai", request_body=body, metadata={**NEW_NAMES, "run": 1})
    (header,) = read_jsonl(path)
    assert header["request"]["metadata"] == {}
    assert header["metadata"] == {"run": 1}
    for secret in NEW_NAMES.values():
        assert secret.encode() not in path.read_bytes()


async def test_server_requests_drop_every_credential_name(
    embedded_server: EmbeddedServer,
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            embedded_server.url + "/v1/chat/completions",
            json=body,
            headers={**NEW_NAMES, "x-trace": "kept"},
        ) as response,
    ):
        assert response.status == 200
    (recorded,) = embedded_server.requests
    assert recorded.headers["x-trace"] == "kept"
    for name, secret in NEW_NAMES.items():
        assert name not in recorded.headers
        assert secret not in repr(recorded)
