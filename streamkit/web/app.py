"""The chat page server: ``GET /`` a small chat page, ``POST /api/chat`` the relay behind it.

``WebChat`` serves, on the loopback interface only:

- ``GET /`` and ``GET /static/{name}``: the page, plain HTML, CSS and JavaScript shipped in the
  package (no build step, nothing fetched from elsewhere);
- ``POST /api/chat``: the body ``useChat`` sends (``messages`` with ``parts``), answered in the AI
  SDK's UI message stream protocol by ``relay_response``, so the same endpoint serves the page and
  any ``useChat`` front end.

Upstream is a chat API at ``base_url``, or, without one, an ``EmbeddedServer`` that ``WebChat``
starts and owns (so the page works with no network and no key). Each chat request is one
upstream stream with retries (``RetryPolicy()``, resume by continuation): a retry shows on the
page as a notice. A closed tab or the stop button ends the request, which closes the upstream.
"""

from __future__ import annotations

import asyncio
import uuid
from importlib import resources
from typing import Any, Final, Literal, Self

import orjson
from aiohttp import web

from streamkit import ChatEndpoint, RetryPolicy
from streamkit.formats import FormatName
from streamkit.relay import chat_request, relay_response
from streamkit.server import FAULT_HEADER, EmbeddedServer

__all__ = ["WebChat"]

_STATIC: Final = ("index.html", "chat.js", "chat.css")
_CONTENT_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
}
_LOOPBACK: Final = "127.0.0.1"
#: The largest chat request body accepted (a long conversation is still far smaller).
_MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024
#: A tool the embedded server can call, offered only when ``tool_calls`` asks for calls.
_DEMO_TOOL: Final = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


class WebChat:
    """Serve the chat page and its ``/api/chat`` relay on 127.0.0.1.

    An async context manager (or ``start()`` / ``aclose()``); started once.

    Args:
        port: the TCP port; 0 picks a free one (see ``url``).
        base_url: the upstream chat API; None starts an embedded server.
        format: the upstream's wire format.
        model: the upstream model.
        api_key: the upstream's key (never sent to the page).
        max_tokens: each answer's limit.
        rate: embedded server only: tokens per second (a pace worth watching).
        fault: embedded server only: a fault spec applied to the first attempt of every chat
            request, e.g. ``disconnect-after=20`` to see a retry.
        tool_calls: embedded server only: make each answer call a demo tool this many times.
        retry: the retry policy of upstream requests.

    Raises:
        ValueError: upstream options given with ``base_url``, or a bad ``base_url``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        base_url: str | None = None,
        format: FormatName = "openai",
        model: str = "streamkit-echo",
        api_key: str | None = None,
        max_tokens: int = 1024,
        rate: float = 60.0,
        fault: str = "",
        tool_calls: int = 0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if base_url is not None:
            if fault or tool_calls:
                raise ValueError("fault and tool_calls apply to the embedded server only")
            ChatEndpoint(base_url)  # fail early on a bad URL
        self._port = port
        self._base_url = base_url
        self._format: FormatName = format
        self._model = model
        self._api_key = api_key
        self._max_tokens = max_tokens
        self._fault = fault
        self._tool_calls = tool_calls
        self._retry = retry or RetryPolicy()
        self._embedded = None if base_url else EmbeddedServer(rate=rate)
        self._runner: web.AppRunner | None = None
        self._state: Literal["new", "open", "closed"] = "new"
        self._bound_port = 0

    def __repr__(self) -> str:
        return f"WebChat(url={self.url if self._bound_port else None!r}, state={self._state!r})"

    @property
    def url(self) -> str:
        """The page's URL, e.g. ``http://127.0.0.1:8080``.

        Raises:
            RuntimeError: the server was never started.
        """
        if not self._bound_port:
            raise RuntimeError("the chat page is not started: use `async with WebChat() as chat:`")
        return f"http://{_LOOPBACK}:{self._bound_port}"

    @property
    def upstream(self) -> EmbeddedServer | None:
        """The embedded server answering the chat, when no ``base_url`` was given."""
        return self._embedded

    async def start(self) -> Self:
        """Start the upstream (when embedded) and serve the page.

        Raises:
            RuntimeError: started before.
            OSError: the port is taken.
        """
        if self._state != "new":
            raise RuntimeError(f"the chat page is {self._state}: start it only once")
        self._state = "open"
        try:
            if self._embedded is not None:
                await self._embedded.start()
            # handler_cancellation: a browser that goes away cancels its request's handler at
            # once, which closes the relay and the upstream, even while the upstream is silent.
            runner = web.AppRunner(
                self._make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
            )
            self._runner = runner
            await runner.setup()
            site = web.TCPSite(runner, _LOOPBACK, self._port)
            await site.start()
            self._bound_port = int(runner.addresses[0][1])
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self) -> None:
        """Stop serving, close every connection and the embedded server; idempotent."""
        self._state = "closed"
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                await asyncio.shield(runner.cleanup())
        finally:
            if self._embedded is not None:
                await self._embedded.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the app -------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_post("/api/chat", self._chat)
        return app

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return _static_response("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return _static_response(name)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            ui_body = orjson.loads(await request.read())
            body = chat_request(
                ui_body, format=self._format, model=self._model, max_tokens=self._max_tokens
            )
        except (orjson.JSONDecodeError, ValueError) as error:
            return web.json_response({"error": str(error)}, status=400)
        headers: dict[str, str] = {}
        if self._embedded is not None:
            # A fresh session per chat request, so a ``first-attempts`` fault hits every one.
            headers["x-streamkit-session"] = uuid.uuid4().hex
            if self._fault:
                headers[FAULT_HEADER] = self._fault
            if self._tool_calls:
                headers["x-streamkit-tool-calls"] = str(self._tool_calls)
                body["tools"] = [_tool(self._format)]
        endpoint = ChatEndpoint(
            self._embedded.url if self._embedded is not None else str(self._base_url),
            format=self._format,
            api_key=self._api_key,
            headers=headers,
        )
        events = endpoint.stream(body, retry=self._retry)
        return await relay_response(request, events, protocol="ui-message")


def _tool(format: FormatName) -> dict[str, Any]:
    if format == "anthropic":
        return {
            "name": _DEMO_TOOL["name"],
            "description": _DEMO_TOOL["description"],
            "input_schema": _DEMO_TOOL["parameters"],
        }
    return {"type": "function", "function": dict(_DEMO_TOOL)}


def _static_response(name: str) -> web.Response:
    data = resources.files("streamkit.web").joinpath("static", name).read_bytes()
    content_type = _CONTENT_TYPES[name[name.rindex(".") :]]
    return web.Response(
        body=data,
        content_type=content_type,
        charset="utf-8",
        headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )
