"""OpenAI Responses (``POST /v1/responses``, ``"stream": true``).

The stream is typed events, each a JSON object whose ``type`` names it (the SSE ``event:`` line
says the same). ``response.created`` opens the response (id, model); output items follow, each
numbered by ``output_index``: ``response.output_item.added`` / ``.done`` bracket a ``message``
(content parts of type ``output_text`` or ``refusal``, streamed by ``response.output_text.delta``
and ``response.refusal.delta``), a ``function_call`` (``call_id`` and ``name`` on the item, then
``response.function_call_arguments.delta`` pieces) or a ``reasoning`` item
(``response.reasoning_summary_text.delta`` and ``response.reasoning_text.delta``). The stream
ends with ``response.completed``, ``response.incomplete`` (with the reason:
``max_output_tokens``, ``content_filter``) or ``response.failed``; the first two carry the usage.
There is no ``[DONE]`` line: the terminal event is the end marker. An ``error`` event, and
``response.failed``, are errors in the stream. Event types this version does not know are
skipped, as the API adds them over time.

``ToolCallDelta.index`` and ``ReasoningDelta.index`` are the item's ``output_index``;
``ToolCall.id`` is the ``call_id`` a ``function_call_output`` answers, not the item's ``fc_`` id.
A completed response with function calls finishes with ``tool_calls`` (the API's status is just
``completed``). The Responses API has one answer per request: every event is choice 0.
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
    ReasoningDelta,
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
    required_field,
    required_index,
)
from streamkit.formats.openai import CONTINUE_PROMPT, bearer_headers, openai_error_body
from streamkit.message import Choice, Message
from streamkit.sse import SSEEvent, encode_comment, encode_event

__all__ = ["FORMAT", "ResponsesDecoder", "ResponsesEncoder", "ResponsesFormat"]


# incomplete_details.reason -> normalized reason.
_INCOMPLETE_REASONS: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
# The Responses API puts no HTTP status in an error event; these are the statuses its error
# codes come with (and the fault types of the embedded server).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "invalid_prompt": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "api_error": 500,
    "service_unavailable": 503,
    "server_is_overloaded": 503,
    "overloaded_error": 529,
}


class ResponsesDecoder:
    """Decode one OpenAI Responses stream; see ``streamkit.formats.StreamDecoder``."""

    __slots__ = ("_calls", "_finished", "_items", "_started")

    def __init__(self) -> None:
        self._finished = False
        self._started = False
        self._items: dict[int, str] = {}  # output_index -> item type, of items added
        self._calls: set[int] = set()  # output indexes of function calls still open

    @property
    def finished(self) -> bool:
        return self._finished

    def decode(self, sse: SSEEvent, received_at: float = 0.0) -> list[ContentEvent]:
        if self._finished:
            raise ProtocolError(f"event {sse.event!r} after the response ended")
        if sse.data == "[DONE]":  # some compatible servers end with it, as chat completions do
            self._finished = True
            return []
        payload = load_event_json(sse.event, sse.data)
        if not isinstance(payload, dict):
            raise ProtocolError(f"expected a JSON object in the stream, got {sse.data[:100]!r}")
        kind = payload.get("type")
        kind = kind if isinstance(kind, str) else sse.event
        if kind == "error":
            raise _stream_error(payload)
        if kind == "response.created":
            return self._created(payload, received_at)
        if not self._started and (kind.startswith("response.output") or kind in _TERMINAL):
            raise ProtocolError(f"event {kind!r} before response.created")
        handler = _HANDLERS.get(kind)
        return handler(self, payload, received_at) if handler else []

    def _created(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        if self._started:
            raise ProtocolError("a second response.created in one stream")
        self._started = True
        response = required_field(payload, "response", dict, "response.created")
        where = "response.created response"
        return [
            StreamStart(
                id=optional_field(response, "id", str, where, ""),
                model=optional_field(response, "model", str, where, ""),
                raw=payload,
                received_at=at,
            )
        ]

    def _item_added(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index = required_index(payload, "output_index", "response.output_item.added")
        item = required_field(payload, "item", dict, "response.output_item.added")
        kind = optional_field(item, "type", str, "response.output_item.added item", "")
        if index in self._items:
            raise ProtocolError(f"response.output_item.added for output {index}, added before")
        self._items[index] = kind
        if kind != "function_call":
            return []
        where = "response.output_item.added function_call"
        self._calls.add(index)
        return [
            ToolCallDelta(
                index,
                id=optional_field(item, "call_id", str, where, "")
                or optional_field(item, "id", str, where, ""),
                name=optional_field(item, "name", str, where, ""),
                arguments=optional_field(item, "arguments", str, where, ""),
                raw=payload,
                received_at=at,
            )
        ]

    def _item_done(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index = required_index(payload, "output_index", "response.output_item.done")
        item = required_field(payload, "item", dict, "response.output_item.done")
        if index not in self._items:
            raise ProtocolError(f"response.output_item.done for output {index}, never added")
        out: list[ContentEvent] = []
        if index in self._calls:
            self._calls.discard(index)
            out.append(ToolCallEnd(index, raw=payload, received_at=at))
        encrypted = optional_field(item, "encrypted_content", str, "reasoning item", "")
        if self._items[index] == "reasoning" and encrypted:
            out.append(
                ReasoningDelta(encrypted, kind="redacted", index=index, raw=payload, received_at=at)
            )
        return out

    def _delta(self, payload: dict[str, Any], kind: str) -> tuple[int, str]:
        index = required_index(payload, "output_index", kind)
        if index not in self._items:
            raise ProtocolError(f"{kind} for output {index}, which was never added")
        return index, optional_field(payload, "delta", str, kind, "")

    def _text(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        _, text = self._delta(payload, "response.output_text.delta")
        return [TextDelta(text, raw=payload, received_at=at)] if text else []

    def _refusal(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        _, text = self._delta(payload, "response.refusal.delta")
        return [RefusalDelta(text, raw=payload, received_at=at)] if text else []

    def _arguments(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index, fragment = self._delta(payload, "response.function_call_arguments.delta")
        if index not in self._calls:
            raise ProtocolError(f"function call arguments for output {index}, not an open call")
        return [ToolCallDelta(index, arguments=fragment, raw=payload, received_at=at)]

    def _reasoning(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        index, text = self._delta(payload, str(payload.get("type")))
        return [ReasoningDelta(text, index=index, raw=payload, received_at=at)] if text else []

    def _end(self, payload: dict[str, Any], at: float) -> list[ContentEvent]:
        kind = str(payload.get("type"))
        self._finished = True
        response = required_field(payload, "response", dict, kind)
        if kind == "response.failed":
            raise _failed_error(payload, response)
        out: list[ContentEvent] = []
        for index in sorted(self._calls):  # calls a terminal event closes without item.done
            out.append(ToolCallEnd(index, raw=payload, received_at=at))
        self._calls.clear()
        if kind == "response.incomplete":
            details = optional_field(response, "incomplete_details", dict, kind, {})
            raw_reason = optional_field(details, "reason", str, f"{kind} details", "incomplete")
            reason = _INCOMPLETE_REASONS.get(raw_reason, "other")
        else:
            raw_reason = optional_field(response, "status", str, f"{kind} response", "completed")
            calls = "function_call" in self._items.values()
            reason = "tool_calls" if calls else "stop"
        out.append(Finish(reason, raw_reason=raw_reason, raw=payload, received_at=at))
        usage = optional_field(response, "usage", dict, f"{kind} response", None)
        if usage is not None:
            where = f"{kind} usage"
            out.append(
                Usage(
                    input_tokens=optional_field(usage, "input_tokens", int, where, None),
                    output_tokens=optional_field(usage, "output_tokens", int, where, None),
                    raw=payload,
                    received_at=at,
                )
            )
        return out


_HANDLERS = {
    "response.output_item.added": ResponsesDecoder._item_added,
    "response.output_item.done": ResponsesDecoder._item_done,
    "response.output_text.delta": ResponsesDecoder._text,
    "response.refusal.delta": ResponsesDecoder._refusal,
    "response.function_call_arguments.delta": ResponsesDecoder._arguments,
    "response.reasoning_summary_text.delta": ResponsesDecoder._reasoning,
    "response.reasoning_text.delta": ResponsesDecoder._reasoning,
    "response.completed": ResponsesDecoder._end,
    "response.incomplete": ResponsesDecoder._end,
    "response.failed": ResponsesDecoder._end,
}


@dataclass(slots=True)
class _Item:
    """One output item being written: its wire shape and what was streamed into it."""

    index: int
    body: dict[str, Any]
    parts: list[dict[str, Any]] = field(default_factory=list)  # message content / summary
    part_kind: str = ""  # the open part's type: output_text, refusal, summary_text


class ResponsesEncoder:
    """Write content events as Responses stream events; see ``streamkit.formats.StreamEncoder``.

    Output items are numbered as they open: a message item with the first text or refusal, a
    reasoning item with the first reasoning, a function call with a call's first fragment. An
    item closes when another opens, at ``ToolCallEnd`` (its call) or at ``Finish``.
    ``response.completed`` (``response.incomplete`` for ``length`` and ``content_filter``) is
    written by ``finish()``, with the last ``Usage`` and every item, as the API sends it.
    Signatures have no Responses wire form and are left out.
    """

    __slots__ = (
        "_calls",
        "_created",
        "_finish",
        "_id",
        "_items",
        "_model",
        "_open",
        "_sequence",
        "_usage",
    )

    def __init__(self, *, created: int | None = None) -> None:
        self._created = int(time.time()) if created is None else created
        self._id = ""
        self._model = ""
        self._sequence = 0
        self._items: list[_Item] = []
        self._open: _Item | None = None  # the message or reasoning item being written
        self._calls: dict[int, _Item] = {}  # ToolCallDelta.index -> its open function call
        self._finish: Finish | None = None
        self._usage: Usage | None = None

    def encode(self, event: ContentEvent) -> bytes:
        if isinstance(event, StreamStart):
            self._id, self._model = event.id, event.model
            response = self._response("in_progress", [])
            return self._event("response.created", response=response) + self._event(
                "response.in_progress", response=response
            )
        if isinstance(event, TextDelta):
            return self._message_delta("output_text", event.text)
        if isinstance(event, RefusalDelta):
            return self._message_delta("refusal", event.text)
        if isinstance(event, ReasoningDelta):
            return self._reasoning(event)
        if isinstance(event, ToolCallDelta):
            return self._tool_call(event)
        if isinstance(event, ToolCallEnd):
            call = self._calls.pop(event.index, None)
            return self._close_call(call) if call is not None else b""
        if isinstance(event, Finish):
            self._finish = event
            return self._close_all()
        if isinstance(event, Usage):
            self._usage = event
        return b""

    def finish(self) -> bytes:
        out = self._close_all()
        finish = self._finish or Finish("stop", raw_reason="completed")
        status, details = _status(finish.reason)
        response = self._response(status, [item.body for item in self._items], details)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=response)

    # -- items ---------------------------------------------------------------------------

    def _add(self, body: dict[str, Any]) -> tuple[_Item, bytes]:
        item = _Item(len(self._items), body)
        self._items.append(item)
        added = self._event("response.output_item.added", output_index=item.index, item=body)
        return item, added

    def _message_delta(self, kind: str, text: str) -> bytes:
        out = b""
        item = self._open
        if item is None or item.body["type"] != "message":
            out += self._close_open()
            message = {
                "id": f"msg_{self._id_suffix()}",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            item, added = self._add(message)
            self._open = item
            out += added
        if item.part_kind != kind:
            out += self._close_part(item)
            part: dict[str, Any] = (
                {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                if kind == "output_text"
                else {"type": "refusal", "refusal": ""}
            )
            item.parts.append(part)
            item.part_kind = kind
            out += self._event(
                "response.content_part.added",
                item_id=item.body["id"],
                output_index=item.index,
                content_index=len(item.parts) - 1,
                part=_empty(part),
            )
        part = item.parts[-1]
        key = "text" if kind == "output_text" else "refusal"
        part[key] += text
        extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
        return out + self._event(
            "response.output_text.delta" if kind == "output_text" else "response.refusal.delta",
            item_id=item.body["id"],
            output_index=item.index,
            content_index=len(item.parts) - 1,
            delta=text,
            **extra,
        )

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        if event.kind == "signature":
            return b""  # no wire form
        out = b""
        item = self._open
        if item is None or item.body["type"] != "reasoning":
            out += self._close_open()
            body = {"id": f"rs_{self._id_suffix()}", "type": "reasoning", "summary": []}
            item, added = self._add(body)
            self._open = item
            out += added
        if event.kind == "redacted":
            item.body["encrypted_content"] = event.text
            return out
        if not item.part_kind:
            item.parts.append({"type": "summary_text", "text": ""})
            item.part_kind = "summary_text"
            out += self._event(
                "response.reasoning_summary_part.added",
                item_id=item.body["id"],
                output_index=item.index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        item.parts[-1]["text"] += event.text
        return out + self._event(
            "response.reasoning_summary_text.delta",
            item_id=item.body["id"],
            output_index=item.index,
            summary_index=0,
            delta=event.text,
        )

    def _tool_call(self, event: ToolCallDelta) -> bytes:
        out = b""
        call = self._calls.get(event.index)
        if call is None:
            out += self._close_open()
            body = {
                "id": f"fc_{self._id_suffix()}",
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": event.id or "",
                "name": event.name or "",
            }
            call, added = self._add(body)
            self._calls[event.index] = call
            out += added
        if not event.arguments:
            return out
        call.body["arguments"] += event.arguments
        return out + self._event(
            "response.function_call_arguments.delta",
            item_id=call.body["id"],
            output_index=call.index,
            delta=event.arguments,
        )

    def _close_call(self, call: _Item) -> bytes:
        call.body["status"] = "completed"
        done = self._event(
            "response.function_call_arguments.done",
            item_id=call.body["id"],
            output_index=call.index,
            name=call.body["name"],
            arguments=call.body["arguments"],
        )
        return done + self._event(
            "response.output_item.done", output_index=call.index, item=call.body
        )

    def _close_part(self, item: _Item) -> bytes:
        if not item.part_kind:
            return b""
        kind, item.part_kind = item.part_kind, ""
        part = item.parts[-1]
        where = {"item_id": item.body["id"], "output_index": item.index}
        if kind == "summary_text":
            return self._event(
                "response.reasoning_summary_text.done", **where, summary_index=0, text=part["text"]
            ) + self._event(
                "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
        content_index = len(item.parts) - 1
        if kind == "output_text":
            done = self._event(
                "response.output_text.done",
                **where,
                content_index=content_index,
                text=part["text"],
                logprobs=[],
            )
        else:
            done = self._event(
                "response.refusal.done",
                **where,
                content_index=content_index,
                refusal=part["refusal"],
            )
        return done + self._event(
            "response.content_part.done", **where, content_index=content_index, part=part
        )

    def _close_open(self) -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        out = self._close_part(item)
        if item.body["type"] == "message":
            item.body["status"] = "completed"
            item.body["content"] = item.parts
        else:
            item.body["summary"] = item.parts
        return out + self._event(
            "response.output_item.done", output_index=item.index, item=item.body
        )

    def _close_all(self) -> bytes:
        out = self._close_open()
        for index in list(self._calls):
            out += self._close_call(self._calls.pop(index))
        return out

    # -- envelopes -----------------------------------------------------------------------

    def _id_suffix(self) -> str:
        base = self._id.removeprefix("resp_") or "streamkit"
        return f"{base}{len(self._items):02d}"

    def _response(
        self, status: str, output: list[dict[str, Any]], details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return _response_object(
            id=self._id,
            model=self._model,
            created=self._created,
            status=status,
            output=output,
            details=details,
            usage=self._usage if status != "in_progress" else None,
        )

    def _event(self, kind: str, **fields: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return encode_event(orjson.dumps(body), event=kind)


def _empty(part: dict[str, Any]) -> dict[str, Any]:
    """A content part as ``content_part.added`` shows it: before any text."""
    key = "text" if part["type"] == "output_text" else "refusal"
    return {**part, key: ""}


def _status(reason: FinishReason | None) -> tuple[str, dict[str, Any] | None]:
    """The response status, and its ``incomplete_details``, for a normalized finish reason."""
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _usage_body(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens or 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output_tokens or 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens or 0,
    }


def _response_object(
    *,
    id: str,
    model: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    details: dict[str, Any] | None,
    usage: Usage | None,
) -> dict[str, Any]:
    """A ``Response`` object (``object: "response"``) with the fields the API always sends."""
    return {
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": details,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _usage_body(usage),
        "user": None,
        "metadata": {},
    }


class ResponsesFormat:
    """The OpenAI Responses wire format; see ``streamkit.formats.WireFormat``."""

    name: Literal["responses"] = "responses"
    path = "/v1/responses"

    def __repr__(self) -> str:
        return "ResponsesFormat()"

    def url_path(self, body: Mapping[str, Any]) -> str:
        return self.path

    def headers(self, api_key: str | None) -> dict[str, str]:
        return bearer_headers(api_key)

    def prompt_body(
        self, prompt: str, *, model: str, system: str | None, max_tokens: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "max_output_tokens": max_tokens}
        if system:
            body["instructions"] = system  # the system prompt is a field, not an input item
        body["input"] = [{"role": "user", "content": prompt}]
        return body

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def continuation_body(self, body: Mapping[str, Any], partial: str) -> dict[str, Any]:
        # No prefill in the Responses API: the partial answer goes in as an assistant message,
        # then a user message asks for the rest.
        items = list(_input_items(body.get("input")))
        items.append({"role": "assistant", "content": partial})
        items.append({"role": "user", "content": CONTINUE_PROMPT})
        return {**self.stream_body(body), "input": items}

    def continuation_prefix(self, partial: str) -> str:
        return partial  # the assistant message carries all of it

    def decoder(self) -> ResponsesDecoder:
        return ResponsesDecoder()

    def encoder(self, *, created: int | None = None) -> ResponsesEncoder:
        return ResponsesEncoder(created=created)

    def keep_alive(self) -> bytes:
        return encode_comment("keep-alive")

    def error_event(self, error_type: str, message: str) -> bytes:
        body = {
            "type": "error",
            "sequence_number": 0,
            "code": error_type,
            "message": message,
            "param": None,
        }
        return encode_event(orjson.dumps(body), event="error")

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return openai_error_body(message, error_type)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> APIStatusError:
        return api_error_from_response(status, body, headers, request_id_header="x-request-id")

    def response_body(self, message: Message, *, created: int = 0) -> dict[str, Any]:
        """``message`` as a ``Response`` body (``object: "response"``), from choice 0.

        Output items come in the order reasoning, message (its text, then its refusal), function
        calls: the events do not record how they interleaved. Each call's ``arguments`` is its
        raw JSON text, exactly as streamed. The status is ``incomplete`` (with its reason) for an
        answer cut by the token limit or a content filter, else ``completed``.

        Args:
            message: the complete message.
            created: the ``created_at`` Unix time; a stream's events carry it, events do not.
        """
        choice = next((c for c in message.choices if c.index == 0), None) or Choice(0)
        suffix = message.id.removeprefix("resp_") or "streamkit"
        output: list[dict[str, Any]] = []
        if choice.reasoning:
            summary = [{"type": "summary_text", "text": choice.reasoning}]
            output.append({"id": f"rs_{suffix}", "type": "reasoning", "summary": summary})
        content: list[dict[str, Any]] = []
        if choice.text:
            content.append(
                {"type": "output_text", "text": choice.text, "annotations": [], "logprobs": []}
            )
        if choice.refusal:
            content.append({"type": "refusal", "refusal": choice.refusal})
        if content:
            output.append(
                {
                    "id": f"msg_{suffix}",
                    "type": "message",
                    "status": "completed",
                    "role": message.role,
                    "content": content,
                }
            )
        for call in choice.tool_calls:
            output.append(
                {
                    "id": f"fc_{suffix}{call.index:02d}",
                    "type": "function_call",
                    "status": "completed",
                    "arguments": call.raw_arguments,
                    "call_id": call.id,
                    "name": call.name,
                }
            )
        status, details = _status(choice.finish_reason)
        return _response_object(
            id=message.id,
            model=message.model,
            created=created,
            status=status,
            output=output,
            details=details,
            usage=message.usage,
        )


def _input_items(value: Any) -> list[Any]:
    """A request's ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list | tuple) else []


def _error_status(code: str | None) -> int:
    return _ERROR_STATUS.get(code or "", 500)


def _stream_error(payload: dict[str, Any]) -> APIStatusError:
    """The error of an ``error`` event: ``code`` and ``message`` at the top, or in ``error``."""
    error = payload.get("error") if isinstance(payload.get("error"), dict) else payload
    assert isinstance(error, dict)
    code = error.get("code") or error.get("type")
    code = code if isinstance(code, str) and code != "error" else None
    return APIStatusError.for_status(
        _error_status(code),
        str(error.get("message") or "error event in stream"),
        error_type=code,
        body=payload,
        in_stream=True,
    )


def _failed_error(payload: dict[str, Any], response: dict[str, Any]) -> APIStatusError:
    """The error of ``response.failed``: the response's ``error`` (``code``, ``message``)."""
    error = response.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    code = code if isinstance(code, str) else None
    return APIStatusError.for_status(
        _error_status(code),
        str(error.get("message") or "the response failed"),
        error_type=code,
        body=payload,
        in_stream=True,
    )


FORMAT = ResponsesFormat()
