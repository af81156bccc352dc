"""OpenAI chat completions (``POST /v1/chat/completions``, ``"stream": true``).

The stream is ``data:`` lines of ``chat.completion.chunk`` objects ended by ``data: [DONE]``.
Each choice's first delta carries ``role``; then come ``content``, ``refusal`` and ``tool_calls``
pieces (keyed by ``index``; ``id`` and ``function.name`` on the first piece of a call), then a chunk
with ``finish_reason``; with ``stream_options.include_usage`` a last chunk has empty ``choices`` and
the ``usage``. OpenAI-compatible servers add ``reasoning_content`` or ``reasoning`` pieces, decoded
as ``ReasoningDelta``. An ``{"error": {...}}`` object may arrive instead of a chunk.

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
    Logprobs,
    ProviderData,
    ReasoningDelta,
    RefusalDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.exact_json import dumps as dumps_json
from streamkit.formats._json import (
    api_error_from_response,
    load_event_json,
    optional_field,
    optional_index,
)
from streamkit.message import Choice, Message
from streamkit.sse import SSEEvent, encode_comment, encode_event

__all__ = ["FORMAT", "OpenAIDecoder", "OpenAIEncoder", "OpenAIFormat"]

#: The user message a continuation request ends with: OpenAI's APIs have no assistant prefill,
#: so the partial answer goes in as an assistant message and this asks for the rest.
CONTINUE_PROMPT = "continue exactly where you stopped, without repeating anything"


def bearer_headers(api_key: str | None) -> dict[str, str]:
    """The request headers of OpenAI's streaming APIs (chat completions, Responses)."""
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def openai_error_body(message: str, error_type: str) -> dict[str, Any]:
    """An OpenAI error body, as both of its APIs answer a failed request."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


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

    wire: int = 0  # wire index of the last piece: the one a piece without index continues
    indexes: dict[int, int] = field(default_factory=dict)  # wire index -> event index
    ids: dict[int, str] = field(default_factory=dict)  # event index -> call id
    used: set[int] = field(default_factory=set)  # event indexes given out
    open: set[int] = field(default_factory=set)  # event indexes of calls not yet ended
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


# The chunk's own fields; any other field of a chunk without choices is kept as ProviderData.
_ENVELOPE = frozenset(
    {"id", "object", "created", "model", "system_fingerprint", "service_tier", "choices", "usage"}
)


class OpenAIDecoder:
    """Decode one OpenAI chat completion stream; see ``streamkit.formats.StreamDecoder``.

    Each choice gets one ``StreamStart``, at its first piece, whether or not that piece carries
    ``role`` (some servers leave it out, others repeat it in every chunk). Tool-call pieces of
    several calls may alternate, several in one chunk: a call ends only when its choice finishes
    (or the stream ends), never because a piece of another call arrived. A delta carrying the
    same call both as ``tool_calls`` and as the deprecated ``function_call`` (llama-cpp-python's
    server does) is one call, read from ``tool_calls``.
    """

    __slots__ = ("_calls", "_finished", "_started")

    def __init__(self) -> None:
        self._finished = False
        self._calls: dict[int, _ChoiceCalls] = {}  # choice -> its tool calls
        self._started: set[int] = set()  # choices whose StreamStart was emitted

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
        choices = optional_field(chunk, "choices", list, "chunk", [])
        for choice in choices:
            self._decode_choice(chunk, choice, received_at, out)
        usage = optional_field(chunk, "usage", dict, "chunk", None)
        if usage is not None:
            out.append(_usage(usage, chunk, received_at))
        if not choices and usage is None:
            # Azure's prompt_filter_results chunk and the like: nothing else would keep them.
            out.extend(
                ProviderData(key, value, raw=chunk, received_at=received_at)
                for key, value in chunk.items()
                if key not in _ENVELOPE and value is not None
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
        if n not in self._started:
            self._started.add(n)
            out.append(_stream_start(chunk, role or "assistant", n, at))
        # OpenAI-compatible servers stream reasoning in a field of their own: DeepSeek and older
        # vLLM ``reasoning_content``, OpenRouter, Ollama and newer vLLM ``reasoning``. One text
        # is read, so a server sending both (the same text twice) is not read double.
        reasoning = optional_field(delta, "reasoning_content", str, "chunk delta", "")
        reasoning = reasoning or optional_field(delta, "reasoning", str, "chunk delta", "")
        if reasoning:
            out.append(ReasoningDelta(reasoning, choice=n, raw=chunk, received_at=at))
        content = optional_field(delta, "content", str, "chunk delta", "")
        if content:
            out.append(TextDelta(content, choice=n, raw=chunk, received_at=at))
        refusal = optional_field(delta, "refusal", str, "chunk delta", "")
        if refusal:
            out.append(RefusalDelta(refusal, choice=n, raw=chunk, received_at=at))
        tool_calls = optional_field(delta, "tool_calls", list, "chunk delta", [])
        for call in tool_calls:
            self._decode_tool_call(call, n, chunk, at, out)
        legacy = optional_field(delta, "function_call", dict, "chunk delta", None)
        if legacy and not tool_calls:  # the deprecated single-function form: one call at 0
            self._decode_tool_call({"index": 0, "function": legacy}, n, chunk, at, out)
        logprobs = optional_field(choice, "logprobs", dict, "chunk choice", None)
        if logprobs is not None:
            out.append(_logprobs(logprobs, n, chunk, at))
        reason = optional_field(choice, "finish_reason", str, "chunk choice", "")
        if reason:
            self._close_calls(n, chunk, at, out)
            # vLLM names the stop string that matched; a token id (an int) is not one.
            stop = choice.get("stop_reason")
            out.append(
                Finish(
                    _FINISH_REASONS.get(reason, "other"),
                    raw_reason=reason,
                    choice=n,
                    stop_sequence=stop if isinstance(stop, str) else None,
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
        calls.open.add(index)
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

    def _close_calls(
        self, n: int, chunk: dict[str, Any], at: float, out: list[ContentEvent]
    ) -> None:
        calls = self._calls.get(n)
        if calls is not None:
            for index in sorted(calls.open):
                out.append(ToolCallEnd(index, choice=n, raw=chunk, received_at=at))
            calls.open.clear()


def _stream_start(chunk: dict[str, Any], role: str, n: int, at: float) -> StreamStart:
    return StreamStart(
        id=optional_field(chunk, "id", str, "chunk", ""),
        model=optional_field(chunk, "model", str, "chunk", ""),
        role=role,
        choice=n,
        created=optional_field(chunk, "created", int, "chunk", None),
        system_fingerprint=optional_field(chunk, "system_fingerprint", str, "chunk", None),
        service_tier=optional_field(chunk, "service_tier", str, "chunk", None),
        raw=chunk,
        received_at=at,
    )


def _usage(usage: dict[str, Any], chunk: dict[str, Any], at: float) -> Usage:
    where = "chunk usage"
    prompt = optional_field(usage, "prompt_tokens_details", dict, where, {})
    completion = optional_field(usage, "completion_tokens_details", dict, where, {})
    return Usage(
        input_tokens=optional_field(usage, "prompt_tokens", int, where, None),
        output_tokens=optional_field(usage, "completion_tokens", int, where, None),
        cached_input_tokens=optional_field(prompt, "cached_tokens", int, where, None),
        reasoning_tokens=optional_field(completion, "reasoning_tokens", int, where, None),
        details=usage,
        raw=chunk,
        received_at=at,
    )


def _logprobs(logprobs: dict[str, Any], n: int, chunk: dict[str, Any], at: float) -> Logprobs:
    where = "chunk choice logprobs"
    content = optional_field(logprobs, "content", list, where, None)
    refusal = optional_field(logprobs, "refusal", list, where, None)
    return Logprobs(
        content=None if content is None else tuple(content),
        refusal=None if refusal is None else tuple(refusal),
        choice=n,
        raw=chunk,
        received_at=at,
    )


class OpenAIEncoder:
    """Write content events as OpenAI chunks; see ``streamkit.formats.StreamEncoder``.

    Each chunk repeats the id, model and creation time of the ``StreamStart`` that opened it.
    """

    __slots__ = ("_created", "_fingerprint", "_id", "_model", "_tier")

    def __init__(self, *, created: int | None = None) -> None:
        self._id = ""
        self._model = ""
        self._fingerprint: str | None = None
        self._tier: str | None = None
        self._created = int(time.time()) if created is None else created

    def encode(self, event: ContentEvent) -> bytes:
        if isinstance(event, StreamStart):
            self._id, self._model = event.id, event.model
            if event.created is not None:
                self._created = event.created
            self._fingerprint, self._tier = event.system_fingerprint, event.service_tier
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
            usage = _usage_body(event)
            return encode_event(dumps_json(self._envelope([], usage=usage)))
        if isinstance(event, Logprobs):
            logprobs = {
                "content": None if event.content is None else list(event.content),
                "refusal": None if event.refusal is None else list(event.refusal),
            }
            return self._chunk(event.choice, {}, logprobs=logprobs)
        if isinstance(event, ProviderData):
            return encode_event(dumps_json({**self._envelope([]), event.kind: event.data}))
        return b""  # ToolCallEnd, reasoning and content blocks have no OpenAI wire form

    def finish(self) -> bytes:
        return encode_event("[DONE]")

    def _chunk(
        self,
        n: int,
        delta: dict[str, Any],
        *,
        finish_reason: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> bytes:
        choice = {"index": n, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        return encode_event(dumps_json(self._envelope([choice])))

    def _envelope(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        envelope = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": self._fingerprint,
            "choices": choices,
            **extra,
        }
        if self._tier is not None:
            envelope["service_tier"] = self._tier
        return envelope


class OpenAIFormat:
    """The OpenAI chat completions wire format; see ``streamkit.formats.WireFormat``."""

    name: Literal["openai"] = "openai"
    path = "/v1/chat/completions"

    def __repr__(self) -> str:
        return "OpenAIFormat()"

    def url_path(self, body: Mapping[str, Any]) -> str:
        return self.path

    def headers(self, api_key: str | None) -> dict[str, str]:
        return bearer_headers(api_key)

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
            {"role": "user", "content": CONTINUE_PROMPT},
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
        return encode_event(orjson.dumps(openai_error_body(message, error_type)))

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return openai_error_body(message, error_type)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> APIStatusError:
        return api_error_from_response(status, body, headers, request_id_header="x-request-id")

    def response_body(self, message: Message, *, created: int | None = None) -> dict[str, Any]:
        """``message`` as a ``ChatCompletion`` body (``object: "chat.completion"``).

        Field for field what the openai SDK's ``get_final_completion()`` gives for the same
        stream (less the SDK's own ``parsed`` fields and tool-call ``index``): ``created``,
        ``system_fingerprint`` and ``service_tier`` from the stream, ``logprobs`` per choice,
        and the provider's whole ``usage`` object. ``content`` is None when the choice has no
        text but has tool calls or a refusal; each tool call's ``arguments`` is its raw JSON
        text, exactly as streamed, valid or not. The ``finish_reason`` is the provider's word
        when it is an OpenAI one, else the normalized reason in OpenAI's words; a choice that
        never finished says ``stop``, since the schema has no word for an unfinished choice.
        ``usage`` is left out when no usage was reported.

        Args:
            message: the complete message.
            created: the ``created`` Unix time; by default the stream's (0 if it sent none).
        """
        body: dict[str, Any] = {
            "id": message.id,
            "object": "chat.completion",
            "created": created if created is not None else (message.created or 0),
            "model": message.model,
            "choices": [_response_choice(choice, message.role) for choice in message.choices],
            "system_fingerprint": message.system_fingerprint,
        }
        if message.service_tier is not None:
            body["service_tier"] = message.service_tier
        if message.usage is not None:
            body["usage"] = _usage_body(message.usage)
        return body


def _usage_body(usage: Usage) -> dict[str, Any]:
    """The usage object: the provider's own when it was OpenAI-shaped, else built from counts."""
    details = usage.details
    if isinstance(details, Mapping) and (
        "prompt_tokens" in details or "completion_tokens" in details
    ):
        return dict(details)
    body: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens or 0,
        "completion_tokens": usage.output_tokens or 0,
        "total_tokens": usage.total_tokens or 0,
    }
    if usage.cached_input_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    if usage.reasoning_tokens is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
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
    logprobs = None
    if choice.logprobs is not None:
        tokens, refusal = choice.logprobs.content, choice.logprobs.refusal
        logprobs = {
            "content": None if tokens is None else list(tokens),
            "refusal": None if refusal is None else list(refusal),
        }
    return {
        "index": choice.index,
        "message": message,
        "logprobs": logprobs,
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
    error_type = error.get("type")
    code = error.get("code")
    status: int | None = None
    if isinstance(code, int | str) and not isinstance(code, bool) and str(code).isdigit():
        # LiteLLM and others put an HTTP status in ``code`` (``"500"``): a status, not a type.
        status = int(code) if 400 <= int(code) <= 599 else None
    elif not isinstance(error_type, str) and isinstance(code, str):
        error_type = code  # OpenAI's own errors may name the kind only in ``code``
    error_type = error_type if isinstance(error_type, str) and error_type else None
    status = status or _ERROR_STATUS.get(error_type or "", 500)
    return APIStatusError.for_status(
        status,
        str(error.get("message") or "error event in stream"),
        error_type=error_type,
        body=chunk,
        in_stream=True,
    )


FORMAT = OpenAIFormat()
