"""The embedded server's OpenAI Responses and Google Gemini endpoints.

Both APIs get the same scenarios, tool calls, continuation and faults as chat completions and
messages: their routes lead to the server's one chat handler, and their requests are read as the
chat request the scenarios understand (``chat_request``): the conversation as ``messages``, the
token limit as ``max_tokens``, the tools and tool choice in a shape ``plan_reply`` reads. What is
written back is the format's own (``streamkit.formats.responses`` / ``.gemini`` encoders and
response bodies), so the server and the client share one definition of each.

Routes: ``POST /v1/responses`` (streaming when the body says ``"stream": true``), and
``POST /v1beta/models/{model}:streamGenerateContent`` (always SSE, as ``?alt=sse`` asks) and
``:generateContent`` (one JSON body). Pure request translation plus route registration; the
handler itself is the server's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from aiohttp import web

from streamkit.formats import WireFormat, get_format

__all__ = ["GEMINI_ROUTE", "RESPONSES_ROUTE", "add_routes", "chat_request"]

RESPONSES_ROUTE: Final = "/v1/responses"
#: ``{call}`` is ``MODEL:streamGenerateContent`` or ``MODEL:generateContent``.
GEMINI_ROUTE: Final = "/v1beta/models/{call}"
_GEMINI_METHODS: Final = {"streamGenerateContent": True, "generateContent": False}

ChatHandler = Callable[[web.Request, WireFormat], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, handler: ChatHandler) -> None:
    """Register the Responses and Gemini routes of ``app``, each calling ``handler``."""
    responses, gemini = get_format("responses"), get_format("gemini")

    async def responses_route(request: web.Request) -> web.StreamResponse:
        return await handler(request, responses)

    async def gemini_route(request: web.Request) -> web.StreamResponse:
        _, _, method = request.match_info["call"].rpartition(":")
        if method not in _GEMINI_METHODS:
            body = gemini.error_body(404, "", f"unknown method {method!r}")
            raise web.HTTPNotFound(
                text=orjson.dumps(body).decode(), content_type="application/json"
            )
        return await handler(request, gemini)

    app.router.add_post(RESPONSES_ROUTE, responses_route)
    app.router.add_post(GEMINI_ROUTE, gemini_route)


def chat_request(
    fmt: WireFormat, request: web.Request, body: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``body`` as the chat request the scenarios read; unchanged for chat formats or no body.

    Args:
        fmt: the wire format of the route that received it.
        request: the request (Gemini's model and streaming are in its path).
        body: the parsed JSON body, or None when it was not a JSON object.
    """
    if body is None:
        return None
    if fmt.name == "responses":
        return responses_chat_request(body)
    if fmt.name == "gemini":
        model, _, method = request.match_info.get("call", "").rpartition(":")
        return gemini_chat_request(body, model=model, stream=_GEMINI_METHODS.get(method, True))
    return body


def responses_chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses request (``input``, ``instructions``, ``max_output_tokens``) as a chat one."""
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "stream": body.get("stream") is True,
        "stream_options": {"include_usage": True},  # Responses always reports usage
        "messages": [_responses_message(item) for item in _input_items(body.get("input"))],
    }
    if isinstance(body.get("instructions"), str):
        chat["system"] = body["instructions"]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    tools = [
        _chat_tool(tool.get("name"), tool.get("parameters"))
        for tool in body.get("tools") or ()
        if isinstance(tool, Mapping) and tool.get("type") == "function"
    ]
    if tools:
        chat["tools"] = tools
    for key in ("tool_choice", "parallel_tool_calls", "metadata"):
        if key in body:
            chat[key] = body[key]  # read by plan_reply as they are
    return chat


def gemini_chat_request(body: Mapping[str, Any], *, model: str, stream: bool) -> dict[str, Any]:
    """A Gemini ``GenerateContentRequest`` (``contents``, ``systemInstruction``,
    ``generationConfig``, ``tools``, ``toolConfig``) as a chat request."""
    contents = body.get("contents")
    chat: dict[str, Any] = {
        "model": model,
        "stream": stream,
        "stream_options": {"include_usage": True},  # every Gemini answer reports usage
        "messages": [_gemini_message(c) for c in contents] if isinstance(contents, list) else [],
    }
    system = body.get("systemInstruction")
    if isinstance(system, Mapping):
        chat["system"] = _parts_text(system.get("parts"))
    config = body.get("generationConfig")
    if isinstance(config, Mapping) and config.get("maxOutputTokens") is not None:
        chat["max_tokens"] = config["maxOutputTokens"]
    tools = [
        _chat_tool(
            declaration.get("name"),
            declaration.get("parametersJsonSchema") or _lower_types(declaration.get("parameters")),
        )
        for tool in body.get("tools") or ()
        if isinstance(tool, Mapping)
        for declaration in tool.get("functionDeclarations") or ()
        if isinstance(declaration, Mapping)
    ]
    if tools:
        chat["tools"] = tools
    choice = _gemini_tool_choice(body.get("toolConfig"))
    if choice is not None:
        chat["tool_choice"] = choice
    return chat


def _chat_tool(name: Any, parameters: Any) -> dict[str, Any]:
    """A function tool in chat completions' shape, so its arguments follow its schema."""
    function: dict[str, Any] = {"name": name}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI schema (``"type": "OBJECT"``) as JSON Schema (``"object"``)."""
    if isinstance(schema, Mapping):
        return {
            key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    return schema


def _input_items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def _responses_message(item: Any) -> Any:
    """One Responses input item as a chat message (anything else stays as it is: a 400)."""
    if not isinstance(item, Mapping):
        return item
    kind = item.get("type")
    if kind == "function_call":
        return {"role": "assistant", "content": ""}
    if kind == "function_call_output":
        return {"role": "tool", "content": str(item.get("output", ""))}
    content = item.get("content")
    if isinstance(content, list):  # input_text / output_text parts
        content = "".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping)
        )
    return {**item, "content": content}


def _gemini_message(content: Any) -> Any:
    if not isinstance(content, Mapping):
        return content
    parts = content.get("parts")
    role = content.get("role") or "user"  # Gemini's default role
    if role == "model":
        role = "assistant"
    elif isinstance(parts, list) and any(
        isinstance(p, Mapping) and "functionResponse" in p for p in parts
    ):
        role = "tool"
    return {"role": role, "content": _parts_text(parts)}


def _parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(
        p["text"]
        for p in parts
        if isinstance(p, Mapping) and isinstance(p.get("text"), str) and not p.get("thought")
    )


def _gemini_tool_choice(config: Any) -> Any:
    """``toolConfig.functionCallingConfig`` as a chat ``tool_choice``: ``ANY`` demands a call
    (of the one allowed function, if one is named), ``NONE`` forbids it."""
    if not isinstance(config, Mapping):
        return None
    calling = config.get("functionCallingConfig")
    if not isinstance(calling, Mapping):
        return None
    mode = str(calling.get("mode", "")).upper()
    if mode == "ANY":
        allowed = calling.get("allowedFunctionNames")
        if isinstance(allowed, list) and len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}
        return "required"
    if mode == "NONE":
        return "none"
    return None
