"""Google Gemini (``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``).

Each SSE event's data is a whole ``GenerateContentResponse``: ``candidates[]`` (``index``,
``content.parts[]``, ``finishReason``), ``usageMetadata`` (``promptTokenCount``,
``candidatesTokenCount``, ``thoughtsTokenCount``, ...), ``modelVersion`` and ``responseId``. A
part is ``text`` (reasoning when ``thought`` is true), a ``functionCall`` (``name``, ``args`` as a
JSON object, sometimes an ``id``: a call arrives whole, never in pieces) or carries a
``thoughtSignature``. A blocked prompt has no candidates but ``promptFeedback.blockReason``.

Gemini has no end marker: the last chunk carries each candidate's ``finishReason`` (and the
usage). This decoder takes the chunk in which every candidate it saw has finished as the end, so
a stream cut before it is a lost connection, as with the other formats. An ``{"error": {...}}``
object (``code``, ``message``, ``status``) may arrive instead of a chunk.

Mapped to the event model: the model's ``role`` (``model``) is ``assistant``; each candidate is a
choice; function calls are numbered per candidate from 0 (``ToolCallDelta.index``) and a call
without an ``id`` gets ``call_<index>``; ``finishReason`` ``STOP`` after function calls is
``tool_calls``, the safety family is ``content_filter``. Gemini has no refusal text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import orjson

from streamkit.errors import APIStatusError, ProtocolError, truncate
from streamkit.events import (
    ContentEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.formats._json import load_event_json, optional_field, optional_index
from streamkit.http_headers import retry_after_seconds
from streamkit.message import Choice, Message
from streamkit.sse import SSEEvent, encode_event
from streamkit.tool_arguments import validate_tool_call

__all__ = ["API_PATH", "FORMAT", "GeminiDecoder", "GeminiEncoder", "GeminiFormat"]

#: The streaming endpoint's path template; ``{model}`` is the model's name.
API_PATH = "/v1beta/models/{model}:streamGenerateContent"

_FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_RAW_FINISH: dict[FinishReason, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
    "other": "OTHER",
}
# Google's canonical error codes for the HTTP statuses, as its error bodies name them.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# The embedded server's fault types (named as the other APIs name them) -> HTTP status.
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 503,
    "timeout_error": 504,
}


@dataclass(slots=True)
class _Candidate:
    calls: int = 0  # function calls seen: the next call's index
    finished: bool = False


class GeminiDecoder:
    """Decode one Gemini ``streamGenerateContent`` stream; see ``StreamDecoder``."""

    __slots__ = ("_candidates", "_finished", "_started")

    def __init__(self) -> None:
        self._finished = False
        self._started = False
        self._candidates: dict[int, _Candidate] = {}

    @property
    def finished(self) -> bool:
        return self._finished

    def decode(self, sse: SSEEvent, received_at: float = 0.0) -> list[ContentEvent]:
        if self._finished:
            raise ProtocolError(f"event after the last candidate finished: {sse.data[:100]!r}")
        chunk = load_event_json(sse.event, sse.data)
        if not isinstance(chunk, dict):
            raise ProtocolError(f"expected a JSON object in the stream, got {sse.data[:100]!r}")
        if chunk.get("error"):
            raise _stream_error(chunk)
        at = received_at
        out: list[ContentEvent] = []
        # The first chunk opens the answer, whatever it holds (usage may come before content).
        self._start(chunk, 0, at, out)
        candidates = optional_field(chunk, "candidates", list, "chunk", [])
        for candidate in candidates:
            if not isinstance(candidate, dict):
                raise ProtocolError(f"malformed candidate in chunk: {candidate!r:.100}")
            self._candidate(chunk, candidate, at, out)
        feedback = optional_field(chunk, "promptFeedback", dict, "chunk", {})
        blocked = optional_field(feedback, "blockReason", str, "chunk promptFeedback", "")
        if blocked and not candidates:  # the prompt was refused: no candidate will come
            self._start(chunk, 0, at, out)
            out.append(Finish("content_filter", raw_reason=blocked, raw=chunk, received_at=at))
            self._candidates[0].finished = True
        usage = optional_field(chunk, "usageMetadata", dict, "chunk", None)
        if usage is not None:
            where = "chunk usageMetadata"
            out.append(
                Usage(
                    input_tokens=optional_field(usage, "promptTokenCount", int, where, None),
                    output_tokens=optional_field(usage, "candidatesTokenCount", int, where, None),
                    raw=chunk,
                    received_at=at,
                )
            )
        if self._candidates and all(c.finished for c in self._candidates.values()):
            self._finished = True
        return out

    def _start(self, chunk: dict[str, Any], n: int, at: float, out: list[ContentEvent]) -> None:
        if n in self._candidates:
            return
        self._candidates[n] = _Candidate()
        out.append(
            StreamStart(
                id=optional_field(chunk, "responseId", str, "chunk", ""),
                model=optional_field(chunk, "modelVersion", str, "chunk", ""),
                choice=n,
                raw=chunk,
                received_at=at,
            )
        )

    def _candidate(
        self, chunk: dict[str, Any], candidate: dict[str, Any], at: float, out: list[ContentEvent]
    ) -> None:
        n = optional_index(candidate, "index", "chunk candidate", 0)
        self._start(chunk, n, at, out)
        state = self._candidates[n]
        if state.finished:
            raise ProtocolError(f"candidate {n} continued after its finishReason")
        content = optional_field(candidate, "content", dict, "chunk candidate", {})
        for part in optional_field(content, "parts", list, "chunk candidate content", []):
            if not isinstance(part, dict):
                raise ProtocolError(f"malformed part in chunk: {part!r:.100}")
            self._part(chunk, part, n, state, at, out)
        reason = optional_field(candidate, "finishReason", str, "chunk candidate", "")
        if reason:
            normalized = _FINISH_REASONS.get(reason, "other")
            if normalized == "stop" and state.calls:
                normalized = "tool_calls"
            out.append(Finish(normalized, raw_reason=reason, choice=n, raw=chunk, received_at=at))
            state.finished = True

    def _part(
        self,
        chunk: dict[str, Any],
        part: dict[str, Any],
        n: int,
        state: _Candidate,
        at: float,
        out: list[ContentEvent],
    ) -> None:
        where = "chunk part"
        text = optional_field(part, "text", str, where, "")
        thought = part.get("thought") is True
        if text and thought:
            out.append(ReasoningDelta(text, choice=n, raw=chunk, received_at=at))
        elif text:
            out.append(TextDelta(text, choice=n, raw=chunk, received_at=at))
        call = optional_field(part, "functionCall", dict, where, None)
        if call is not None:
            index = state.calls
            state.calls += 1
            args = call.get("args")
            arguments = orjson.dumps(args if args is not None else {}).decode()
            out.append(
                ToolCallDelta(
                    index,
                    id=optional_field(call, "id", str, "chunk functionCall", "") or f"call_{index}",
                    name=optional_field(call, "name", str, "chunk functionCall", ""),
                    arguments=arguments,
                    choice=n,
                    raw=chunk,
                    received_at=at,
                )
            )
            out.append(ToolCallEnd(index, choice=n, raw=chunk, received_at=at))
        signature = optional_field(part, "thoughtSignature", str, where, "")
        if signature:
            out.append(
                ReasoningDelta(signature, kind="signature", choice=n, raw=chunk, received_at=at)
            )


@dataclass(slots=True)
class _Call:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class GeminiEncoder:
    """Write content events as Gemini chunks; see ``streamkit.formats.StreamEncoder``.

    Each text, thought or signature is a chunk of its own. A function call is written whole
    when its ``ToolCallEnd`` (or the choice's ``Finish``) comes, since Gemini does not stream
    arguments; invalid JSON arguments are a ``ValueError``. ``StreamStart`` writes nothing (each
    chunk carries the response id and model). A ``Finish`` is held back so the chunk that ends
    the stream carries the usage that follows it, as Gemini's last chunk does; usage reported
    earlier waits for that chunk too. Refusals have no
    Gemini wire form and are left out.
    """

    __slots__ = ("_calls", "_finishes", "_id", "_model", "_usage")

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._calls: dict[tuple[int, int], _Call] = {}  # (choice, index) -> call being gathered
        self._finishes: list[Finish] = []
        self._usage: Usage | None = None  # the last report, for the chunk that ends the stream

    def encode(self, event: ContentEvent) -> bytes:
        if isinstance(event, StreamStart):
            self._id, self._model = event.id, event.model
            return b""
        if isinstance(event, Usage):
            self._usage = event
            return self._flush()
        out = self._flush()
        if isinstance(event, TextDelta):
            return out + self._chunk(event.choice, [{"text": event.text}])
        if isinstance(event, ReasoningDelta):
            if event.kind == "signature":
                return out + self._chunk(event.choice, [{"thoughtSignature": event.text}])
            return out + self._chunk(event.choice, [{"text": event.text, "thought": True}])
        if isinstance(event, ToolCallDelta):
            key = (event.choice, event.index)
            call = self._calls.setdefault(key, _Call(event.id or "", event.name or ""))
            call.arguments.append(event.arguments)
            return out
        if isinstance(event, ToolCallEnd):
            return out + self._call(event.choice, event.index)
        if isinstance(event, Finish):
            for choice, index in [key for key in self._calls if key[0] == event.choice]:
                out += self._call(choice, index)
            self._finishes.append(event)
        return out  # RefusalDelta: no wire form

    def finish(self) -> bytes:
        out = b""
        for choice, index in list(self._calls):
            out += self._call(choice, index)
        return out + self._flush()

    def _call(self, choice: int, index: int) -> bytes:
        call = self._calls.pop((choice, index), None)
        if call is None:
            return b""
        text = "".join(call.arguments) or "{}"
        try:
            args = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"tool call {call.name!r}: arguments are not JSON: {exc}") from exc
        function: dict[str, Any] = {"name": call.name, "args": args}
        if call.id:
            function["id"] = call.id
        return self._chunk(choice, [{"functionCall": function}])

    def _flush(self) -> bytes:
        """The chunk of the held ``Finish`` events, with the last usage; b"" if none is held."""
        finishes, self._finishes = self._finishes, []
        if not finishes:
            return b""
        usage = self._usage
        candidates = [
            {
                "content": {"parts": [{"text": ""}], "role": "model"},
                "finishReason": _raw_finish_reason(f.raw_reason, f.reason),
                "index": f.choice,
            }
            for f in finishes
        ]
        body = self._envelope(candidates)
        if usage is not None:
            body["usageMetadata"] = _usage_metadata(usage)
        return encode_event(orjson.dumps(body))

    def _chunk(self, choice: int, parts: list[dict[str, Any]]) -> bytes:
        candidate = {"content": {"parts": parts, "role": "model"}, "index": choice}
        return encode_event(orjson.dumps(self._envelope([candidate])))

    def _envelope(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        return {"candidates": candidates, "modelVersion": self._model, "responseId": self._id}


def _usage_metadata(usage: Usage) -> dict[str, int]:
    return {
        "promptTokenCount": usage.input_tokens or 0,
        "candidatesTokenCount": usage.output_tokens or 0,
        "totalTokenCount": usage.total_tokens or 0,
    }


def _raw_finish_reason(raw: str | None, normalized: FinishReason | None) -> str:
    """Gemini's word for why a candidate stopped: the provider's own, else the normalized one's."""
    if raw in _FINISH_REASONS or raw in ("OTHER", "LANGUAGE", "MALFORMED_FUNCTION_CALL"):
        return raw
    return _RAW_FINISH[normalized or "stop"]


def _model_name(body: Mapping[str, Any]) -> str:
    """The model a Gemini request body names (``model``, with or without ``models/``).

    Raises:
        ValueError: the body names no model.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model.removeprefix("models/"):
        raise ValueError("a Gemini request body needs 'model': the model goes in the URL path")
    return model.removeprefix("models/")


class GeminiFormat:
    """The Google Gemini wire format; see ``streamkit.formats.WireFormat``.

    A request body is Gemini's ``GenerateContentRequest`` plus a ``model`` field: the model goes
    into the URL path (``url_path``) and is left out of the body sent (``stream_body``).
    """

    name: Literal["gemini"] = "gemini"
    path = API_PATH

    def __repr__(self) -> str:
        return "GeminiFormat()"

    def url_path(self, body: Mapping[str, Any]) -> str:
        model = quote(_model_name(body), safe="-._~")
        return API_PATH.format(model=model) + "?alt=sse"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if api_key:
            headers["x-goog-api-key"] = api_key
        return headers

    def prompt_body(
        self, prompt: str, *, model: str, system: str | None, max_tokens: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        body["contents"] = [{"role": "user", "parts": [{"text": prompt}]}]
        body["generationConfig"] = {"maxOutputTokens": max_tokens}
        return body

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        # The path says "stream" and names the model; the body carries neither.
        return {key: value for key, value in body.items() if key != "model"}

    def continuation_body(self, body: Mapping[str, Any], partial: str) -> dict[str, Any]:
        # The partial answer as a last model turn, which Gemini continues.
        contents = list(body.get("contents") or ())
        if contents and isinstance(contents[-1], Mapping) and contents[-1].get("role") == "model":
            last = contents.pop()
            partial = _turn_text(last) + partial
        contents.append({"role": "model", "parts": [{"text": partial}]})
        return {**self.stream_body(body), "contents": contents}

    def continuation_prefix(self, partial: str) -> str:
        return partial  # the model turn carries all of it

    def decoder(self) -> GeminiDecoder:
        return GeminiDecoder()

    def encoder(self) -> GeminiEncoder:
        return GeminiEncoder()

    def keep_alive(self) -> bytes:
        # Gemini sends no keep-alives, and google-genai's stream reader takes every non-empty
        # line for data: an empty line is the one thing both it and SSE skip.
        return b"\n"

    def error_event(self, error_type: str, message: str) -> bytes:
        status = _ERROR_TYPE_STATUS.get(error_type, 500)
        return encode_event(orjson.dumps(_error(status, message)))

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return _error(status, message)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> APIStatusError:
        text = body.decode("utf-8", errors="replace")
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and parsed:  # a JSON-array stream's error: one element
            parsed = parsed[0]
        error = parsed.get("error") if isinstance(parsed, dict) else None
        error = error if isinstance(error, dict) else {}
        kind = error.get("status")
        message = error.get("message")
        return APIStatusError.for_status(
            status,
            message if isinstance(message, str) else (truncate(text) or f"HTTP {status}"),
            error_type=kind if isinstance(kind, str) else None,
            body=parsed if parsed is not None else text,
            request_id=headers.get("x-request-id"),
            retry_after=retry_after_seconds(headers),
        )

    def response_body(self, message: Message) -> dict[str, Any]:
        """``message`` as a ``GenerateContentResponse`` body, one candidate per choice.

        Parts come in the order thoughts, text, function calls; a refusal (which Gemini cannot
        say) is left out. ``finishReason`` is the provider's word when it is a Gemini one, else
        the normalized reason in Gemini's words (``tool_calls`` is ``STOP``).

        Raises:
            ToolCallError: a tool call's arguments are not valid JSON.
        """
        candidates = []
        for choice in message.choices or (Choice(0),):
            parts: list[dict[str, Any]] = []
            if choice.reasoning:
                parts.append({"text": choice.reasoning, "thought": True})
            if choice.text:
                parts.append({"text": choice.text})
            for call in choice.tool_calls:
                validate_tool_call(call)
                function = {"id": call.id, "name": call.name, "args": call.arguments}
                parts.append({"functionCall": function})
            candidate: dict[str, Any] = {
                "content": {"parts": parts, "role": "model"},
                "index": choice.index,
            }
            if choice.finish_reason is not None:
                candidate["finishReason"] = _raw_finish_reason(
                    choice.raw_finish_reason, choice.finish_reason
                )
            candidates.append(candidate)
        body: dict[str, Any] = {
            "candidates": candidates,
            "modelVersion": message.model,
            "responseId": message.id,
        }
        if message.usage is not None:
            body["usageMetadata"] = _usage_metadata(message.usage)
        return body


def _turn_text(turn: Mapping[str, Any]) -> str:
    parts = turn.get("parts")
    if not isinstance(parts, list):
        return ""
    return "".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def _error(status: int, message: str) -> dict[str, Any]:
    name = _STATUS_NAMES.get(status) or ("UNAVAILABLE" if status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": status, "message": message, "status": name}}


def _stream_error(chunk: dict[str, Any]) -> APIStatusError:
    error = chunk["error"]
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = error.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) else 500
    kind = error.get("status")
    return APIStatusError.for_status(
        status,
        str(error.get("message") or "error event in stream"),
        error_type=kind if isinstance(kind, str) else None,
        body=chunk,
        in_stream=True,
    )


FORMAT = GeminiFormat()
