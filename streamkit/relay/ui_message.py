"""The Vercel AI SDK's UI message stream protocol, v1: what ``useChat`` reads.

The body is SSE; each event's ``data`` is one JSON *part* and the body ends with ``data: [DONE]``.
The response carries ``x-vercel-ai-ui-message-stream: v1``. Parts written here, by event:

=====================  ==================================================================
``StreamStart``        ``start`` (``messageId``), ``start-step``
``TextDelta`` / str    ``text-start`` (once per block), ``text-delta``
``RefusalDelta``       text, like ``TextDelta``: it is what the model says to the user
``ReasoningDelta``     ``reasoning-start``, ``reasoning-delta`` (readable thinking only)
``ToolCallDelta``      ``tool-input-start`` (``toolCallId``, ``toolName``), ``tool-input-delta``
``ToolCallEnd``        ``tool-input-available`` with the parsed ``input``, or
                       ``tool-input-error`` when the arguments are not JSON
``ToolCall``           the same, for a call not streamed before (deduplicated by id)
``Retrying``           ``data-retry`` (transient): ``attempt``, ``delay``, ``continued``, ``cause``
``Rewind``             ``data-rewind`` (transient): discard what was shown; new blocks follow
end of stream          open block ends, ``finish-step``, ``finish`` (``finishReason``, with
                       ``messageMetadata.usage``), ``[DONE]``
failure                ``error`` (``errorText``), ``[DONE]``
=====================  ==================================================================

A block (text or reasoning) ends with its ``-end`` part when another kind of content starts.
Only choice 0 is relayed: a UI message has one answer. Transient data parts reach ``useChat``'s
``onData`` and are not stored in the message; the AI SDK has no part that withdraws text, so after
a ``Rewind`` its message keeps both answers (``resume="continue"``, the default, never rewinds).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from streamkit.events import (
    Finish,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    Retrying,
    Rewind,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.relay.protocol import short_cause
from streamkit.sse import encode_comment, encode_event

__all__ = ["UI_MESSAGE_HEADERS", "UIMessageEncoder"]

#: The headers of a UI message stream response.
UI_MESSAGE_HEADERS: Final[Mapping[str, str]] = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-vercel-ai-ui-message-stream": "v1",
    # Proxies such as nginx buffer responses unless told not to; a stream must not wait.
    "x-accel-buffering": "no",
}
_FINISH_REASONS: Final[Mapping[FinishReason, str]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "content_filter": "content-filter",
    "other": "other",
}


@dataclass(slots=True)
class _Call:
    """A streamed tool call whose input is not complete yet."""

    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class UIMessageEncoder:
    """Write pipeline items as UI message stream parts; see ``RelayEncoder``.

    Args:
        message_id: the ``start`` part's ``messageId``; by default the ``StreamStart`` id, else a
            fresh one.
        error_text: what the ``error`` part says for a failure; by default a few safe words
            (``short_cause``: the error type and HTTP status, never a server's message).
    """

    __slots__ = (
        "_block",
        "_blocks",
        "_calls",
        "_done_calls",
        "_error_text",
        "_finish",
        "_message_id",
        "_started",
        "_usage",
    )

    headers: Mapping[str, str] = UI_MESSAGE_HEADERS

    def __init__(
        self,
        *,
        message_id: str | None = None,
        error_text: Callable[[BaseException], str] = short_cause,
    ) -> None:
        self._message_id = message_id
        self._error_text = error_text
        self._started = False
        self._block: tuple[str, str] | None = None  # (kind, id) of the open text/reasoning block
        self._blocks = 0
        self._calls: dict[int, _Call] = {}  # ToolCallDelta.index -> call still streaming
        self._done_calls: set[str] = set()  # ids whose input is available
        self._usage: Usage | None = None
        self._finish: Finish | None = None

    def encode(self, item: object) -> bytes:
        if getattr(item, "choice", 0) != 0:
            return b""
        if isinstance(item, StreamStart):
            return self._start(item.id)
        out = [self._start(None)]
        if isinstance(item, str):
            out.append(self._text("text", item))
        elif isinstance(item, TextDelta | RefusalDelta):
            out.append(self._text("text", item.text))
        elif isinstance(item, ReasoningDelta):
            if item.kind == "thinking":
                out.append(self._text("reasoning", item.text))
        elif isinstance(item, ToolCallDelta):
            out.append(self._tool_delta(item))
        elif isinstance(item, ToolCallEnd):
            out.append(self._tool_available(item.index))
        elif isinstance(item, ToolCall):
            out.append(self._tool_call(item))
        elif isinstance(item, Usage):
            self._usage = item
        elif isinstance(item, Finish):
            out.append(self._close_block())
            out.extend(self._tool_available(index) for index in list(self._calls))
            self._finish = item
        elif isinstance(item, Retrying):
            data = {
                "attempt": item.attempt,
                "delay": item.delay,
                "continued": item.continued,
                "cause": short_cause(item.cause),
            }
            out.append(_part("data-retry", data=data, transient=True))
        elif isinstance(item, Rewind):
            out.append(self._close_block())
            self._calls.clear()
            out.append(_part("data-rewind", data={"attempt": item.attempt}, transient=True))
        return b"".join(out)

    def keep_alive(self) -> bytes:
        return encode_comment("keep-alive")

    def error(self, error: BaseException) -> bytes:
        out = self._start(None) + self._close_block()
        return out + _part("error", errorText=self._error_text(error)) + encode_event("[DONE]")

    def finish(self) -> bytes:
        out = [self._start(None), self._close_block()]
        out.extend(self._tool_available(index) for index in list(self._calls))
        out.append(_part("finish-step"))
        finish: dict[str, Any] = {}
        if self._finish is not None:
            finish["finishReason"] = _FINISH_REASONS[self._finish.reason]
        if self._usage is not None:
            usage = {
                "inputTokens": self._usage.input_tokens,
                "outputTokens": self._usage.output_tokens,
                "totalTokens": self._usage.total_tokens,
            }
            finish["messageMetadata"] = {"usage": usage}
        out.append(_part("finish", **finish))
        out.append(encode_event("[DONE]"))
        return b"".join(out)

    # -- parts ---------------------------------------------------------------------------------

    def _start(self, stream_id: str | None) -> bytes:
        if self._started:
            return b""  # a continued attempt's StreamStart, or content after the first
        self._started = True
        message_id = self._message_id or stream_id or f"msg_{uuid.uuid4().hex}"
        return _part("start", messageId=message_id) + _part("start-step")

    def _text(self, kind: str, text: str) -> bytes:
        if not text:
            return b""
        opened = b""
        if self._block is None or self._block[0] != kind:
            opened = self._close_block()
            self._blocks += 1
            self._block = (kind, f"{kind}-{self._blocks}")
            opened += _part(f"{kind}-start", id=self._block[1])
        return opened + _part(f"{kind}-delta", id=self._block[1], delta=text)

    def _close_block(self) -> bytes:
        if self._block is None:
            return b""
        kind, block_id = self._block
        self._block = None
        return _part(f"{kind}-end", id=block_id)

    def _tool_delta(self, event: ToolCallDelta) -> bytes:
        out = [self._close_block()]
        call = self._calls.get(event.index)
        if call is None:
            call_id = event.id or f"call_{uuid.uuid4().hex[:24]}"
            call = self._calls[event.index] = _Call(call_id, event.name or "")
            out.append(_part("tool-input-start", toolCallId=call.id, toolName=call.name))
        if event.arguments:
            call.arguments.append(event.arguments)
            out.append(
                _part("tool-input-delta", toolCallId=call.id, inputTextDelta=event.arguments)
            )
        return b"".join(out)

    def _tool_available(self, index: int) -> bytes:
        call = self._calls.pop(index, None)
        if call is None:
            return b""
        return self._input_part(call.id, call.name, "".join(call.arguments))

    def _tool_call(self, event: ToolCall) -> bytes:
        if event.id in self._done_calls:
            return b""  # already relayed from its fragments
        started = _part("tool-input-start", toolCallId=event.id, toolName=event.name)
        return (
            self._close_block()
            + started
            + self._input_part(event.id, event.name, event.raw_arguments)
        )

    def _input_part(self, call_id: str, name: str, raw: str) -> bytes:
        self._done_calls.add(call_id)
        try:
            value = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            return _part(
                "tool-input-error",
                toolCallId=call_id,
                toolName=name,
                input=raw,
                errorText="the tool arguments are not valid JSON",
            )
        return _part("tool-input-available", toolCallId=call_id, toolName=name, input=value)


def _part(kind: str, **fields: Any) -> bytes:
    return encode_event(orjson.dumps({"type": kind, **fields}))
