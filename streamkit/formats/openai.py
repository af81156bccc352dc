"""OpenAI chat completions (``POST /v1/chat/completions``, ``"stream": true``).

The stream is ``data:`` lines of ``chat.completion.chunk`` objects ended by ``data: [DONE]``.
Each choice's first delta carries ``role``; then come ``content``, ``refusal`` and ``tool_calls``
pieces (keyed by ``index``; ``id`` and ``function.name`` on the first piece of a call), then a chunk
with ``finish_reason``; with ``stream_options.include_usage`` a last chunk has empty ``choices`` and
the ``usage``. An ``{"error": {...}}`` object may arrive instead of a chunk.

OpenAI-compatible servers differ in the tool call ``index``: Gemini's omits it or sends ``0`` for
every parallel call. A piece without ``index`` continues the current call, and a piece whose ``id``
differs from that of the call at its index opens a new call under the next free index, so each
call keeps its own ``ToolCallDelta.index``. A chunk of the wrong shape (a field of the wrong JSON
type) is a ``ProtocolError`` naming the field.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from streamkit.errors import APIStatusError, ProtocolError
from streamkit.events import (
    ContentEvent,
    Finish,
    FinishReason,
    RefusalDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.formats._json import (
    api_error_from_response,
    load_event_json,
    optional_field,
    optional_index,
)
from streamkit.message import Choice, Message
from streamkit.sse import SSEEvent, encode_comment, encode_event

__all__ = ["FORMAT", "OpenAIDecoder", "OpenAIEncoder", "OpenAIFormat"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_RAW_FINISH: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "other": "stop",
}
# OpenAI puts no status inside a streamed error; these are the statuses its types come with.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
    "server_error": 500,
    "api_error": 500,
    "service_unavailable": 503,
    "overloaded_error": 529,
}


@dataclass(slots=True)
class _ChoiceCalls:
    """The tool calls of one choice: which wire index maps to which event index."""

    open: int | None = None  # event index of the call whose pieces are arriving
    wire: int = 0  # wire index of the last piece: the one a piece without index continues
    indexes: dict[int, int] = field(default_factory=dict)  # wire index -> event index
    ids: dict[int, str] = field(default_factory=dict)  # event index -> call id
    used: set[int] = field(default_factory=set)  # event indexes given out
    top: int = -1  # the largest of them: kept, since max(used) per new call is quadratic

    def resolve(self, wire: int, call_id: str | None) -> int:
        """The event index of a piece at ``wire`` carrying ``call_id``."""
        self.wire = wire
        index = self.indexes.get(wire)
        if index is not None:
            known = self.ids.get(index)
            if not (call_id and known and known != call_id):
                if call_id:
                    self.ids[index] = call_id
                return index
        index = wire if wire not in self.used else self.top + 1
        self.used.add(index)
        self.top = max(self.top, index)
        self.indexes[wire] = index
        if call_id:
            self.ids[index] = call_id
        return index


class OpenAIDecoder:
    """Decode one OpenAI chat completion stream; see ``streamkit.formats.StreamDecoder``."""

    __slots__ = ("_calls", "_finished")

    def __init__(self) -> None:
        self._finished = False
        self._calls: dict[int, _ChoiceCalls] = {}  # choice -> its tool calls

    @property
    def finished(self) -> bool:
        return self._finished

    def decode(self, sse: SSEEvent, received_at: float = 0.0) -> list[ContentEvent]:
        if self._finished:
            raise ProtocolError(f"event after [DONE]: {sse.data[:100]!r}")
        if sse.data == "[DONE]":
            self._finished = True
            return []
        chunk = load_event_json(sse.event, sse.data)
        if not isinstance(chunk, dict):
            raise ProtocolError(f"expected a JSON object in the stream, got {sse.data[:100]!r}")
        if chunk.get("error"):
            raise _stream_error(chunk)
        out: list[ContentEvent] = []
        for choice in optional_field(chunk, "choices", list, "chunk", []):
            self._decode_choice(chunk, choice, received_at, out)
        usage = optional_field(chunk, "usage", dict, "chunk", None)
        if usage is not None:
            out.append(
                Usage(
                    input_tokens=optional_field(usage, "prompt_tokens", int, "chunk usage", None),
                    output_tokens=optional_field(
                        usage, "completion_tokens", int, "chunk usage", None
                    ),
                    raw=chunk,
                    received_at=received_at,
                )
            )
        return out

    def _decode_choice(
        self, chunk: dict[str, Any], choice: Any, at: float, out: list[ContentEvent]
    ) -> None:
        if not isinstance(choice, dict):
            raise ProtocolError(f"malformed choice in chunk: {choice!r:.100}")
        n = optional_index(choice, "index", "chunk choice", 0)
        delta = optional_field(choice, "delta", dict, "chunk choice", {})
        role = optional_field(delta, "role", str, "chunk delta", "")
        if role:
            out.append(
                StreamStart(
                    id=optional_field(chunk, "id", str, "chunk", ""),
                    model=optional_field(chunk, "model", str, "chunk", ""),
                    role=role,
                    choice=n,
                    raw=chunk,
                    received_at=at,
                )
            )
        content = optional_field(delta, "content", str, "chunk delta", "")
        if content:
            out.append(TextDelta(content, choice=n, raw=chunk, received_at=at))
        refusal = optional_field(delta, "refusal", str, "chunk delta", "")
        if refusal:
            out.append(RefusalDelta(refusal, choice=n, raw=chunk, received_at=at))
        for call in optional_field(delta, "tool_calls", list, "chunk delta", []):
            self._decode_tool_call(call, n, chunk, at, out)
        legacy = optional_field(delta, "function_call", dict, "chunk delta", None)
        if legacy:  # the deprecated single-function form: one call at index 0
            self._decode_tool_call({"index": 0, "function": legacy}, n, chunk, at, out)
        reason = optional_field(choice, "finish_reason", str, "chunk choice", "")
        if reason:
            self._close_call(n, chunk, at, out)
            out.append(
                Finish(
                    _FINISH_REASONS.get(reason, "other"),
                    raw_reason=reason,
                    choice=n,
                    raw=chunk,
                    received_at=at,
                )
            )

    def _decode_tool_call(
        self, call: Any, n: int, chunk: dict[str, Any], at: float, out: list[ContentEvent]
    ) -> None:
        if not isinstance(call, dict):
            raise ProtocolError(f"chunk delta with a malformed 'tool_calls' item: {call!r:.100}")
        calls = self._calls.setdefault(n, _ChoiceCalls())
        wire = optional_index(call, "index", "chunk tool call", calls.wire)
        call_id = optional_field(call, "id", str, "chunk tool call", None)
        function = optional_field(call, "function", dict, "chunk tool call", {})
        name = optional_field(function, "name", str, "chunk tool call function", None)
        arguments = optional_field(function, "arguments", str, "chunk tool call function", "")
        index = calls.resolve(wire, call_id)
        if calls.open is not None and calls.open != index:
            self._close_call(n, chunk, at, out)
        calls.open = index
        out.append(
            ToolCallDelta(
                index,
                id=call_id,
                name=name,
                arguments=arguments,
                choice=n,
                raw=chunk,
                received_at=at,
            )
        )

    def _close_call(
        self, n: int, chunk: dict[str, Any], at: float, out: list[ContentEvent]
    ) -> None:
        calls = self._calls.get(n)
        if calls is not None and calls.open is not None:
            out.append(ToolCallEnd(calls.open, choice=n, raw=chunk, received_at=at))
            calls.open = None


class OpenAIEncoder:
    """Write content events as OpenAI chunks; see ``streamkit.formats.StreamEncoder``.

    Each chunk repeats the id, model and creation time of the ``StreamStart`` that opened it.
    """

    __slots__ = ("_created", "_id", "_model")

    def __init__(self, *, created: int | None = None) -> None:
        self._id = ""
        self._model = ""
        self._created = int(time.time()) if created is None else created

    def encode(self, event: ContentEvent) -> bytes:
        if isinstance(event, StreamStart):
            self._id, self._model = event.id, event.model
            return self._chunk(event.choice, {"role": event.role, "content": ""})
        if isinstance(event, TextDelta):
            return self._chunk(event.choice, {"content": event.text})
        if isinstance(event, RefusalDelta):
            return self._chunk(event.choice, {"refusal": event.text})
        if isinstance(event, ToolCallDelta):
            call: dict[str, Any] = {"index": event.index}
            function: dict[str, str] = {"arguments": event.arguments}
            if event.id is not None:
                call["id"] = event.id
                call["type"] = "function"
            if event.name is not None:
                function["name"] = event.name
            call["function"] = function
            return self._chunk(event.choice, {"tool_calls": [call]})
        if isinstance(event, Finish):
            reason = _raw_finish_reason(event.raw_reason, event.reason)
            return self._chunk(event.choice, {}, finish_reason=reason)
        if isinstance(event, Usage):
            usage = {
                "prompt_tokens": event.input_tokens or 0,
                "completion_tokens": event.output_tokens or 0,
                "total_tokens": event.total_tokens or 0,
            }
            return encode_event(orjson.dumps(self._envelope([], usage=usage)))
        return b""  # ToolCallEnd and reasoning have no OpenAI wire form

    def finish(self) -> bytes:
        return encode_event("[DONE]")

    def _chunk(self, n: int, delta: dict[str, Any], *, finish_reason: str | None = None) -> bytes:
        choice = {"index": n, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return encode_event(orjson.dumps(self._envelope([choice])))

    def _envelope(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }


class OpenAIFormat:
    """The OpenAI chat completions wire format; see ``streamkit.formats.WireFormat``."""

    name: Literal["openai"] = "openai"
    path = "/v1/chat/completions"

    def __repr__(self) -> str:
        return "OpenAIFormat()"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return headers

    def prompt_body(
        self, prompt: str, *, model: str, system: str | None, max_tokens: int
    ) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        return {
            "model": model,
            "max_tokens": max_tokens,
            # Usage is streamed only when asked for; a prompt body asks.
            "stream_options": {"include_usage": True},
            "messages": messages,
        }

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def continuation_body(self, body: Mapping[str, Any], partial: str) -> dict[str, Any]:
        # Chat completions has no prefill: show the partial answer, then ask to go on from it.
        messages = [
            *body.get("messages", ()),
            {"role": "assistant", "content": partial},
            {
                "role": "user",
                "content": "continue exactly where you stopped, without repeating anything",
            },
        ]
        return {**self.stream_body(body), "messages": messages}

    def continuation_prefix(self, partial: str) -> str:
        return partial  # the partial assistant message carries all of it

    def decoder(self) -> OpenAIDecoder:
        return OpenAIDecoder()

    def encoder(self, *, created: int | None = None) -> OpenAIEncoder:
        return OpenAIEncoder(created=created)

    def keep_alive(self) -> bytes:
        return encode_comment("keep-alive")

    def error_event(self, error_type: str, message: str) -> bytes:
        body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        return encode_event(orjson.dumps(body))

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": None}}

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> APIStatusError:
        return api_error_from_response(status, body, headers, request_id_header="x-request-id")

    def response_body(self, message: Message, *, created: int = 0) -> dict[str, Any]:
        """``message`` as a ``ChatCompletion`` body (``object: "chat.completion"``).

        ``content`` is None when the choice has no text but has tool calls or a refusal; each tool
        call's ``arguments`` is its raw JSON text, exactly as streamed, valid or not. The
        ``finish_reason`` is the provider's word when it is an OpenAI one, else the normalized
        reason in OpenAI's words; a choice that never finished says ``stop``, since the schema
        has no word for an unfinished choice. ``usage`` is left out when no usage was reported.

        Args:
            message: the complete message.
            created: the ``created`` Unix time; a stream's chunks carry it, events do not.
        """
        body: dict[str, Any] = {
            "id": message.id,
            "object": "chat.completion",
            "created": created,
            "model": message.model,
            "choices": [_response_choice(choice, message.role) for choice in message.choices],
        }
        if message.usage is not None:
            body["usage"] = {
                "prompt_tokens": message.usage.input_tokens or 0,
                "completion_tokens": message.usage.output_tokens or 0,
                "total_tokens": message.usage.total_tokens or 0,
            }
        return body


def _response_choice(choice: Choice, role: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": role,
        "content": choice.text or (None if choice.tool_calls or choice.refusal else ""),
        "refusal": choice.refusal,
    }
    if choice.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.raw_arguments},
            }
            for call in choice.tool_calls
        ]
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None,
        "finish_reason": _raw_finish_reason(choice.raw_finish_reason, choice.finish_reason),
    }


def _raw_finish_reason(raw: str | None, normalized: FinishReason | None) -> str:
    """OpenAI's word for why a choice stopped: the provider's own, else the normalized one's."""
    if raw in _FINISH_REASONS:
        return raw
    return _RAW_FINISH[normalized or "stop"]


def _stream_error(chunk: dict[str, Any]) -> APIStatusError:
    error = chunk["error"]
    if not isinstance(error, dict):
        error = {"message": str(error)}
    error_type = error.get("type") or error.get("code")
    error_type = error_type if isinstance(error_type, str) else None
    status = _ERROR_STATUS.get(error_type or "", 500)
    return APIStatusError.for_status(
        status,
        str(error.get("message") or "error event in stream"),
        error_type=error_type,
        body=chunk,
        in_stream=True,
    )


FORMAT = OpenAIFormat()
