"""The chat page server and the ``streamkit web`` command, without a browser."""

from __future__ import annotations

import aiohttp
import pytest

from streamkit.cli import build_parser, main
from streamkit.web import WebChat
from streamkit.web.command import run_web


async def test_the_page_and_its_files_are_served_locally() -> None:
    async with WebChat(rate=0) as chat, aiohttp.ClientSession() as session:
        async with session.get(chat.url + "/") as page:
            html = await page.text()
            assert page.content_type == "text/html"
        for name, kind in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
            async with session.get(f"{chat.url}/static/{name}") as response:
                assert response.status == 200 and response.content_type == kind
        async with session.get(chat.url + "/static/app.py") as missing:
            assert missing.status == 404
    assert chat.url.startswith("http://127.0.0.1:")
    # Everything the page loads comes from this server: no CDN, no other origin.
    assert "http" not in html.replace("http-equiv", "")


async def test_a_body_that_is_not_a_chat_is_a_400() -> None:
    async with WebChat(rate=0) as chat, aiohttp.ClientSession() as session:
        async with session.post(chat.url + "/api/chat", data=b"{not json") as response:
            assert response.status == 400
        async with session.post(chat.url + "/api/chat", json={"messages": []}) as response:
            assert response.status == 400
            assert "error" in await response.json()


async def test_the_server_is_started_once_and_closed_idempotently() -> None:
    chat = WebChat()
    with pytest.raises(RuntimeError, match="not started"):
        _ = chat.url
    async with chat:
        with pytest.raises(RuntimeError, match="only once"):
            await chat.start()
    await chat.aclose()
    assert chat.upstream is not None and "closed" in repr(chat.upstream)


def test_embedded_only_options_are_refused_with_a_base_url() -> None:
    with pytest.raises(ValueError, match="embedded server"):
        WebChat(base_url="http://127.0.0.1:9", fault="status=500")


def test_the_cli_routes_web_to_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["web", "--port", "0", "--rate", "10"])
    assert args.run is run_web and args.port == 0 and args.rate == 10.0
    assert main(["web", "--base-url", "http://127.0.0.1:9", "--fault", "status=500"]) == 2
    assert main(["web", "--fault", "nonsense=1"]) == 2
    assert "streamkit: error:" in capsys.readouterr().err
