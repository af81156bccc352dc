"""Anthropic messages (``POST /v1/messages``, ``"stream": true``).

The stream is named events: ``message_start`` (id, model, usage), then per content block
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``,
``thinking_delta``, ``signature_delta``) / ``content_block_stop``, then ``message_delta`` (stop
reason, usage) and ``message_stop``; ``ping`` may come anywhere and ``error`` ends the stream.
Unknown event and delta types are skipped, as Anthropic's versioning policy asks of clients.

Every content block opens with a ``BlockStart`` (its index, its type and the block as sent), so
each block keeps its place and kind, an empty text block included. Text, thinking and client
tool calls then stream as typed events carrying the block ``index``; ``citations_delta`` gives
``Citation``. Only ``tool_use`` blocks are client tool calls (``ToolCallDelta``/``ToolCallEnd``):
server-side tool blocks (``server_tool_use`` such as web search, ``web_search_tool_result``,
``mcp_tool_use``, ``mcp_tool_result``) and block types this version does not know are never
offered to a client to run; their content is their ``BlockStart.block`` and their deltas come
as ``BlockDelta``. A signature is a whole value, whether it comes in ``content_block_start`` or
in ``signature_delta`` (a later one replaces it). Usage from ``message_delta`` is merged into
that of ``message_start`` as the API documents: counts are cumulative totals that overwrite,
and a count left out keeps its earlier value. Event types this version does not know become
``ProviderData``. A field of the wrong JSON type is a ``ProtocolError`` naming the event and the
field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson

from streamkit.errors import APIStatusError, ProtocolError, ToolCallError, truncate
from streamkit.events import (
    BlockDelta,
    BlockStart,
    Citation,
    ContentEvent,
    Finish,
    FinishReason,
    Logprobs,
    ProviderData,
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.exact_json import dumps as dumps_json
from streamkit.formats._json import (
    api_error_from_response,
    load_event_json,
    optional_field,
    required_field,
    required_index,
)
from streamkit.message import Choice, Message, ReasoningBlock, TextBlock
from streamkit.sse import SSEEvent, encode_event
from streamkit.tool_arguments import validate_tool_call

__all__ = ["API_VERSION", "FORMAT", "AnthropicDecoder", "AnthropicEncoder", "AnthropicFormat"]

#: The ``anthropic-version`` header streamkit sends.
API_VERSION = "2023-06-01"

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "other",
}
_RAW_STOP: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "other": "end_turn",
}
# Block types whose deltas become typed events; any other block's deltas are BlockDelta.
_CLIENT_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})
_TYPED_DELTAS = frozenset(
    {"text_delta", "citations_delta", "input_json_delta", "thinking_delta", "signature_delta"}
)
# The statuses Anthropic documents for each error type; an error event inside a stream has no
# status of its own.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicDecoder:
    """Decode one Anthropic messages stream; see ``streamkit.formats.StreamDecoder``."""

    __slots__ = ("_blocks", "_finished", "_started", "_usage")

    def __init__(self) -> None:
        self._finished = False
        self._started = False
        self._blocks: dict[int, str] = {}  # open content block index -> block type
        self._usage: dict[str, Any] = {}  # the usage so far, merged as the API documents

    @property
    def finished(self) -> bool:
        return self._finished

    def decode(self, sse: SSEEvent, received_at: float = 0.0) -> list[ContentEvent]:
        kind = sse.event
        if kind == "ping":
            return []
        if self._finished:
            raise ProtocolError(f"event {kind!r} after message_stop")
        payload = load_event_json(kind, sse.data)
        if not isinstance(payload, dict):
            raise ProtocolError(f"expected a JSON object in event {kind!r}, got {sse.data[:100]!r}")
        if kind == "message":  # no event line: some proxies send only data; the type tells
            kind = str(payload.get("type", ""))
        if kind == "error":
            raise _stream_error(payload)
        if kind != "message_start" and not self._started and kind in _NEEDS_START:
            raise ProtocolError(f"event {kind!r} before message_start")
        handler = _HANDLERS.get(kind)
        if handler is None:  # an event type newer than this version: kept, not interpreted
            return [ProviderData(kind, payload, raw=payload, received_at=received_at)]
        return handler(self, payload, received_at)

    def _message_start(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        if self._started:
            raise ProtocolError("a second message_start in one stream")
        self._started = True
        message = required_field(payload, "message", dict, "message_start")
        where = "message_start message"
        usage = optional_field(message, "usage", dict, where, None)
        tier = None if usage is None else usage.get("service_tier")
        out: list[ContentEvent] = [
            StreamStart(
                id=optional_field(message, "id", str, where, ""),
                model=optional_field(message, "model", str, where, ""),
                role=optional_field(message, "role", str, where, "assistant"),
                service_tier=tier if isinstance(tier, str) else None,
                raw=payload,
                received_at=at,
            )
        ]
        if usage is not None:
            self._usage = dict(usage)
            out.append(self._usage_event("message_start usage", payload, at))
        return out

    def _usage_event(self, where: str, payload: dict[str, Any], at: float) -> Usage:
        usage = self._usage
        return Usage(
            input_tokens=optional_field(usage, "input_tokens", int, where, None),
            output_tokens=optional_field(usage, "output_tokens", int, where, None),
            cached_input_tokens=optional_field(usage, "cache_read_input_tokens", int, where, None),
            cache_creation_input_tokens=optional_field(
                usage, "cache_creation_input_tokens", int, where, None
            ),
            details=dict(usage),
            raw=payload,
            received_at=at,
        )

    def _block_start(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index = required_index(payload, "index", "content_block_start")
        block = required_field(payload, "content_block", dict, "content_block_start")
        kind = block.get("type")
        kind = kind if isinstance(kind, str) else ""  # an unknown block: skipped
        if index in self._blocks:
            raise ProtocolError(f"content_block_start for block {index}, which is already open")
        self._blocks[index] = kind
        where = f"content_block_start {kind} block"
        out: list[ContentEvent] = [BlockStart(index, kind, block, raw=payload, received_at=at)]
        if kind == "text":
            text = optional_field(block, "text", str, where, "")
            if text:
                out.append(TextDelta(text, index=index, raw=payload, received_at=at))
            for citation in optional_field(block, "citations", list, where, []):
                out.append(Citation(citation, index=index, raw=payload, received_at=at))
        elif kind == "tool_use":
            initial = block.get("input")
            out.append(
                ToolCallDelta(
                    index,
                    id=optional_field(block, "id", str, where, ""),
                    name=optional_field(block, "name", str, where, ""),
                    arguments=dumps_json(initial) if initial else "",
                    raw=payload,
                    received_at=at,
                )
            )
        elif kind == "thinking":
            thinking = optional_field(block, "thinking", str, where, "")
            if thinking:
                out.append(ReasoningDelta(thinking, index=index, raw=payload, received_at=at))
            signature = optional_field(block, "signature", str, where, "")
            if signature:
                out.append(
                    ReasoningDelta(
                        signature, kind="signature", index=index, raw=payload, received_at=at
                    )
                )
        elif kind == "redacted_thinking":
            data = optional_field(block, "data", str, where, "")
            out.append(
                ReasoningDelta(data, kind="redacted", index=index, raw=payload, received_at=at)
            )
        return out

    def _block_delta(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index = required_index(payload, "index", "content_block_delta")
        delta = required_field(payload, "delta", dict, "content_block_delta")
        block = self._blocks.get(index)
        if block is None:
            raise ProtocolError(f"content_block_delta for block {index}, which is not open")
        kind = delta.get("type")
        kind = kind if isinstance(kind, str) else ""
        where = f"content_block_delta {kind}"
        if block not in _CLIENT_BLOCKS or kind not in _TYPED_DELTAS:
            # A server tool's input, a block or delta type from a later version: no typed home.
            return [BlockDelta(index, delta, raw=payload, received_at=at)]
        if kind == "text_delta":
            text = optional_field(delta, "text", str, where, "")
            return [TextDelta(text, index=index, raw=payload, received_at=at)]
        if kind == "citations_delta":
            citation = required_field(delta, "citation", dict, where)
            return [Citation(citation, index=index, raw=payload, received_at=at)]
        if kind == "input_json_delta":
            if block != "tool_use":
                return [BlockDelta(index, delta, raw=payload, received_at=at)]
            fragment = optional_field(delta, "partial_json", str, where, "")
            return [ToolCallDelta(index, arguments=fragment, raw=payload, received_at=at)]
        if kind == "thinking_delta":
            text = optional_field(delta, "thinking", str, where, "")
            return [ReasoningDelta(text, index=index, raw=payload, received_at=at)]
        if kind == "signature_delta":
            signature = optional_field(delta, "signature", str, where, "")
            return [
                ReasoningDelta(
                    signature, kind="signature", index=index, raw=payload, received_at=at
                )
            ]
        return [BlockDelta(index, delta, raw=payload, received_at=at)]

    def _block_stop(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index = required_index(payload, "index", "content_block_stop")
        kind = self._blocks.pop(index, None)
        if kind is None:
            raise ProtocolError(f"content_block_stop for block {index}, which is not open")
        return [ToolCallEnd(index, raw=payload, received_at=at)] if kind == "tool_use" else []

    def _message_delta(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        delta = required_field(payload, "delta", dict, "message_delta")
        out: list[ContentEvent] = []
        reason = optional_field(delta, "stop_reason", str, "message_delta delta", "")
        if reason:
            normalized = _STOP_REASONS.get(reason, "other")
            stop = optional_field(delta, "stop_sequence", str, "message_delta delta", None)
            out.append(
                Finish(
                    normalized,
                    raw_reason=reason,
                    stop_sequence=stop,
                    raw=payload,
                    received_at=at,
                )
            )
        for key, value in delta.items():  # stop_details, container, later additions
            if key not in ("stop_reason", "stop_sequence") and value is not None:
                out.append(ProviderData(key, value, raw=payload, received_at=at))
        usage = optional_field(payload, "usage", dict, "message_delta", None)
        if usage is not None:
            # Totals that overwrite; a count left out (or null) keeps its message_start value.
            self._usage.update((k, v) for k, v in usage.items() if v is not None)
            out.append(self._usage_event("message_delta usage", payload, at))
        return out

    def _message_stop(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        self._finished = True
        return []


_HANDLERS = {
    "message_start": AnthropicDecoder._message_start,
    "content_block_start": AnthropicDecoder._block_start,
    "content_block_delta": AnthropicDecoder._block_delta,
    "content_block_stop": AnthropicDecoder._block_stop,
    "message_delta": AnthropicDecoder._message_delta,
    "message_stop": AnthropicDecoder._message_stop,
}
_NEEDS_START = frozenset(_HANDLERS) - {"message_start"}


class AnthropicEncoder:
    """Write content events as Anthropic stream events; see ``streamkit.formats.StreamEncoder``.

    Blocks are numbered as they open, whatever index the events carry: a text block opens with the
    first text, a tool_use block with a call's first fragment, and each closes when another block
    opens, at ``ToolCallEnd`` or at ``Finish``. ``message_start`` waits for a ``Usage`` that follows
    ``StreamStart`` and ``message_delta`` for one that follows ``Finish``, to carry their counts.
    """

    __slots__ = ("_block", "_block_kind", "_next_block", "_pending", "_tool_blocks")

    def __init__(self) -> None:
        self._pending: StreamStart | Finish | None = None
        self._block: int | None = None  # index of the open block on the wire
        self._block_kind = ""
        self._next_block = 0
        self._tool_blocks: dict[int, int] = {}  # ToolCallDelta.index -> wire block index

    def encode(self, event: ContentEvent) -> bytes:
        if isinstance(event, BlockStart | BlockDelta | Citation | Logprobs | ProviderData):
            return b""  # blocks open as content comes; the rest has no place in what it writes
        out = [self._flush_pending(event if isinstance(event, Usage) else None)]
        if isinstance(event, StreamStart):
            self._pending = event
        elif isinstance(event, TextDelta):
            out.append(self._open("text", {"type": "text", "text": ""}))
            out.append(self._delta({"type": "text_delta", "text": event.text}))
        elif isinstance(event, ReasoningDelta):
            out.append(self._reasoning(event))
        elif isinstance(event, ToolCallDelta):
            out.append(self._tool_call(event))
        elif isinstance(event, ToolCallEnd):
            if self._block is not None and self._tool_blocks.get(event.index) == self._block:
                out.append(self._close())
        elif isinstance(event, Finish):
            out.append(self._close())
            self._pending = event
        elif isinstance(event, Usage) and not out[0]:
            out.append(self._message_delta(None, event))
        return b"".join(out)

    def finish(self) -> bytes:
        return self._flush_pending(None) + self._close() + self._event("message_stop")

    def _tool_call(self, event: ToolCallDelta) -> bytes:
        opened = b""
        if event.index not in self._tool_blocks:
            block = {
                "type": "tool_use",
                "id": event.id or "",
                "name": event.name or "",
                "input": {},
            }
            opened = self._open("tool_use", block, force=True)
            self._tool_blocks[event.index] = self._next_block - 1
        if not event.arguments:
            return opened
        delta = {"type": "input_json_delta", "partial_json": event.arguments}
        index = self._tool_blocks[event.index]
        return opened + self._event("content_block_delta", index=index, delta=delta)

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        if event.kind == "redacted":
            opened = self._open(
                "redacted_thinking", {"type": "redacted_thinking", "data": event.text}, force=True
            )
            return opened + self._close()
        opened = self._open("thinking", {"type": "thinking", "thinking": ""})
        if event.kind == "signature":
            return opened + self._delta({"type": "signature_delta", "signature": event.text})
        return opened + self._delta({"type": "thinking_delta", "thinking": event.text})

    def _flush_pending(self, usage: Usage | None) -> bytes:
        pending, self._pending = self._pending, None
        if isinstance(pending, StreamStart):
            message: dict[str, Any] = {
                "id": pending.id,
                "type": "message",
                "role": pending.role,
                "model": pending.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": (usage.input_tokens if usage else None) or 0,
                    "output_tokens": (usage.output_tokens if usage else None) or 0,
                },
            }
            return self._event("message_start", message=message)
        if isinstance(pending, Finish):
            return self._message_delta(pending, usage)
        return b""

    def _message_delta(self, finish: Finish | None, usage: Usage | None) -> bytes:
        reason = _raw_stop_reason(finish.raw_reason, finish.reason) if finish else None
        usage_body: dict[str, int] = {
            "output_tokens": (usage.output_tokens if usage else None) or 0
        }
        if usage is not None and usage.input_tokens is not None:
            usage_body["input_tokens"] = usage.input_tokens
        return self._event(
            "message_delta", delta={"stop_reason": reason, "stop_sequence": None}, usage=usage_body
        )

    def _open(self, kind: str, block: dict[str, Any], *, force: bool = False) -> bytes:
        if self._block is not None and self._block_kind == kind and not force:
            return b""
        closed = self._close()
        self._block, self._block_kind = self._next_block, kind
        self._next_block += 1
        return closed + self._event("content_block_start", index=self._block, content_block=block)

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        index, self._block = self._block, None
        return self._event("content_block_stop", index=index)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._event("content_block_delta", index=self._block, delta=delta)

    @staticmethod
    def _event(kind: str, **fields: Any) -> bytes:
        return encode_event(orjson.dumps({"type": kind, **fields}), event=kind)


class AnthropicFormat:
    """The Anthropic messages wire format; see ``streamkit.formats.WireFormat``."""

    name: Literal["anthropic"] = "anthropic"
    path = "/v1/messages"

    def __repr__(self) -> str:
        return "AnthropicFormat()"

    def url_path(self, body: Mapping[str, Any]) -> str:
        return self.path

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "anthropic-version": API_VERSION,
        }
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def prompt_body(
        self, prompt: str, *, model: str, system: str | None, max_tokens: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
        if system:
            body["system"] = system  # a top-level field, not a message
        body["messages"] = [{"role": "user", "content": prompt}]
        return body

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def continuation_body(self, body: Mapping[str, Any], partial: str) -> dict[str, Any]:
        # Native prefill: a last assistant message is continued from where it ends. The API
        # rejects a prefill that ends in whitespace (400), so that is left out: the model says
        # it again, and the retry layer skips what repeats the delivered text.
        messages = list(body.get("messages", ()))
        if messages and messages[-1].get("role") == "assistant":
            last = messages.pop()
            partial = _message_text(last) + partial
        prefill = partial.rstrip()
        if prefill:
            messages.append({"role": "assistant", "content": prefill})
        return {**self.stream_body(body), "messages": messages}

    def continuation_prefix(self, partial: str) -> str:
        return partial.rstrip()  # as continuation_body's prefill

    def decoder(self) -> AnthropicDecoder:
        return AnthropicDecoder()

    def encoder(self) -> AnthropicEncoder:
        return AnthropicEncoder()

    def keep_alive(self) -> bytes:
        return encode_event(b'{"type": "ping"}', event="ping")

    def error_event(self, error_type: str, message: str) -> bytes:
        body = {"type": "error", "error": {"type": error_type, "message": message}}
        return encode_event(orjson.dumps(body), event="error")

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type, "message": message}}

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> APIStatusError:
        return api_error_from_response(status, body, headers, request_id_header="request-id")

    def response_body(self, message: Message) -> dict[str, Any]:
        """``message`` as an Anthropic ``Message`` body (``type: "message"``), from choice 0.

        Field for field what the anthropic SDK's ``get_final_message()`` gives for the same
        stream: every content block in the order streamed (empty text blocks, citations,
        thinking with its last signature, redacted thinking, server tool blocks), the
        ``stop_sequence``, and the usage merged from ``message_start`` and ``message_delta``.
        A choice built by hand (no ``content``) gives reasoning, text, refusal text, then tool
        calls. ``stop_reason`` is the provider's word when it is an Anthropic one, else the
        normalized reason in Anthropic's words (``stop`` is ``end_turn``), or None for a choice
        that never finished. Missing token counts are 0.

        Raises:
            ToolCallError: a tool call's arguments are not valid JSON, or not a JSON object:
                ``tool_use.input`` must be an object, and nothing else would be faithful.
        """
        choice = next((c for c in message.choices if c.index == 0), None) or Choice(0)
        content = _content_blocks(choice) if choice.content else _fallback_blocks(choice)
        body: dict[str, Any] = {
            "id": message.id,
            "type": "message",
            "role": message.role,
            "model": message.model,
            "content": content,
            "stop_reason": _raw_stop_reason(choice.raw_finish_reason, choice.finish_reason),
            "stop_sequence": choice.stop_sequence,
            "usage": _usage_body(message.usage or Usage()),
        }
        for data in message.provider_data:
            if data.kind in _MESSAGE_FIELDS:
                body[data.kind] = data.data
        return body


# Fields of message_delta.delta that are fields of the message (kept as ProviderData).
_MESSAGE_FIELDS = frozenset({"container", "stop_details"})


def _content_blocks(choice: Choice) -> list[dict[str, Any]]:
    """The choice's content blocks in the order they were streamed, as the SDK accumulates them."""
    content: list[dict[str, Any]] = []
    for block in choice.content:
        if isinstance(block, TextBlock):
            text: dict[str, Any] = {"type": "text", "text": block.text}
            if block.citations:
                text["citations"] = list(block.citations)
            content.append(text)
        elif isinstance(block, ReasoningBlock):
            content.append(_reasoning_block(block))
        elif isinstance(block, ToolCall):
            content.append(_tool_use(block))
        else:
            content.append(block.data)
    if choice.refusal:  # an OpenAI refusal has no block of its own
        content.append({"type": "text", "text": choice.refusal})
    return content


def _fallback_blocks(choice: Choice) -> list[dict[str, Any]]:
    """Blocks for a choice built by hand (no ``content``): reasoning, text, refusal, tool calls."""
    content: list[dict[str, Any]] = []
    reasoning = choice.reasoning_blocks
    if not reasoning and choice.reasoning:
        reasoning = (ReasoningBlock(0, text=choice.reasoning),)
    content.extend(_reasoning_block(block) for block in reasoning)
    for text in (choice.text, choice.refusal):
        if text:
            content.append({"type": "text", "text": text})
    content.extend(_tool_use(call) for call in choice.tool_calls)
    return content


def _reasoning_block(block: ReasoningBlock) -> dict[str, Any]:
    if block.kind == "redacted":
        return {"type": "redacted_thinking", "data": block.text}
    return {"type": "thinking", "thinking": block.text, "signature": block.signature}


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)}


def _usage_body(usage: Usage) -> dict[str, Any]:
    """The usage object: the provider's own (merged) when Anthropic-shaped, else from counts."""
    details = usage.details
    if isinstance(details, Mapping) and "input_tokens" in details:
        return dict(details)
    body: dict[str, Any] = {
        "input_tokens": usage.input_tokens or 0,
        "output_tokens": usage.output_tokens or 0,
    }
    if usage.cached_input_tokens is not None:
        body["cache_read_input_tokens"] = usage.cached_input_tokens
    if usage.cache_creation_input_tokens is not None:
        body["cache_creation_input_tokens"] = usage.cache_creation_input_tokens
    return body


def _raw_stop_reason(raw: str | None, normalized: FinishReason | None) -> str | None:
    """Anthropic's word for why the answer stopped: the provider's own, else the normalized one's;
    None for an answer that never finished."""
    if raw in _STOP_REASONS:
        return raw
    return _RAW_STOP[normalized] if normalized is not None else None


def _input(call: ToolCall) -> dict[str, Any]:
    validate_tool_call(call)
    if not isinstance(call.arguments, dict):
        raise ToolCallError(
            f"tool call {call.name!r} (id {call.id!r}): arguments are not a JSON object, "
            f"so they cannot be an Anthropic tool_use input: {truncate(call.raw_arguments)!r}",
            name=call.name,
            call_id=call.id,
            arguments=call.raw_arguments,
        )
    return call.arguments


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(
        block.get("text", "")
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _stream_error(payload: dict[str, Any]) -> APIStatusError:
    error = payload.get("error")
    if not isinstance(error, dict):
        error = {}
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    request_id = payload.get("request_id")
    return APIStatusError.for_status(
        _ERROR_STATUS.get(error_type or "", 500),
        str(error.get("message") or "error event in stream"),
        error_type=error_type,
        body=payload,
        request_id=request_id if isinstance(request_id, str) else None,
        in_stream=True,
    )


FORMAT = AnthropicFormat()
