"""What the embedded server answers: deterministic scripts derived from the request alone.

The answer text is seeded from the user messages (``answer_for``), so the same conversation always
gets the same English sentences, 60 to 150 words, and tests can compute what to expect. A
request that carries a partial answer (Anthropic prefill: a last ``assistant`` message; OpenAI: an
``assistant`` message followed by a user message starting with "continue", or a last assistant
message) gets the rest of the original answer, so ``partial + answer_for(continuation) ==
answer_for(original)``.

``plan_reply`` adds the rest of a response (token limit, tool calls, usage) and ``reply_events``
turns it into the ``ContentEvent`` sequence that the formats' encoders write. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from streamkit.events import (
    ContentEvent,
    Finish,
    FinishReason,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.formats import FormatName

__all__ = [
    "PlannedToolCall",
    "Reply",
    "answer_for",
    "full_answer",
    "plan_reply",
    "reply_events",
    "split_partial",
    "tokens",
]

#: What answers are made of: whole sentences, so a demo reads like prose; a few carry
#: multi-byte characters, so every stream exercises UTF-8 split across reads.
_SENTENCES: Final = (
    "Once upon a time, a river carried small signals from the mountains to the sea.",
    "Every morning the lighthouse keeper counted the ships and wrote their names in a book.",
    "The old clockmaker in Zürich never hurried, yet his clocks were never late.",
    "A careful engineer measures twice, retries once, and never repeats what was already said.",
    "When the connection broke, the story did not start over; it continued where it stopped.",
    "Rain tapped on the window like words arriving one after another.",
    "The café on the corner served tea to travellers who had lost their way.",
    "Some answers are short, and others wander through gardens of detail before they end.",
    "In the valley, the villagers built a bridge that could bend without breaking.",
    "The cartographer drew the coastline from memory — and every cove was exactly right.",
    "Patience, she said, is only waiting with a plan.",
    "A fox watched the trains go by and learned the timetable by heart.",
    "The library kept one lamp burning all night for readers who could not sleep.",
    "Nothing was lost in the storm, because everything had been written down twice.",
    "The baker's apprentice discovered that the best bread needs time more than heat.",
    "High above the city, a kite drifted on a wind that nobody else could feel.",
    "Each letter in the message arrived in order, and the reader smiled at the last one.",
    "The gardener planted slow trees for a future she would never see.",
    "A little robot learned to say “thank you” in eleven languages.",
    "By evening the fog lifted, and the whole harbour glittered like a map of stars.",
    "The two friends agreed that a good question is worth more than a quick answer.",
    "On the last page of the notebook someone had written: keep going.",
)
_MIN_WORDS: Final = 60
_MAX_WORDS: Final = 150
_TOOL_PREAMBLE: Final = "Let me look that up."
_FRAGMENT: Final = 7  # characters of tool arguments per streamed fragment
_TOKEN = re.compile(r"\s*\S+|\s+$")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, Mapping) and block.get("type") in ("text", None)
        )
    return ""


def _messages(body_or_messages: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Any]:
    if isinstance(body_or_messages, Mapping):
        messages = body_or_messages.get("messages") or []
    else:
        messages = body_or_messages
    return [m for m in messages if isinstance(m, Mapping)]


def split_partial(
    body_or_messages: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], str]:
    """Split a conversation into the original messages and the partial answer it continues.

    Recognized: a last ``assistant`` message (prefill), and an ``assistant`` message followed by a
    last ``user`` message whose text starts with "continue" (OpenAI continuation). Otherwise the
    partial answer is "".
    """
    messages = _messages(body_or_messages)
    if messages and messages[-1].get("role") == "assistant":
        return messages[:-1], _content_text(messages[-1].get("content"))
    if (
        len(messages) >= 2
        and messages[-2].get("role") == "assistant"
        and messages[-1].get("role") == "user"
        and _content_text(messages[-1].get("content")).lstrip().lower().startswith("continue")
    ):
        return messages[:-2], _content_text(messages[-2].get("content"))
    return messages, ""


def full_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    """The whole answer to ``messages``, seeded from the text of their user messages."""
    seed_text = "\n".join(
        _content_text(m.get("content")) for m in messages if m.get("role") == "user"
    )
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    total = rng.randint(_MIN_WORDS, _MAX_WORDS)
    sentences: list[str] = []
    count = 0
    for sentence in rng.sample(_SENTENCES, len(_SENTENCES)):
        words = len(sentence.split())
        if count >= total:
            break
        if count + words <= _MAX_WORDS:
            sentences.append(sentence)
            count += words
    return " ".join(sentences)


def answer_for(body_or_messages: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """The text the server streams for a request body (or its ``messages``), before any limit.

    For a continuation request this is the rest of the original answer after the partial one;
    when the partial answer is not a prefix of the original, the whole original answer.
    """
    original, partial = split_partial(body_or_messages)
    return _rest(full_answer(original), partial)


def _rest(answer: str, partial: str) -> str:
    return answer[len(partial) :] if answer.startswith(partial) else answer


def tokens(text: str) -> list[str]:
    """Split ``text`` into words, each with its leading whitespace (``"".join`` gives it back)."""
    return _TOKEN.findall(text)


@dataclass(frozen=True, slots=True)
class PlannedToolCall:
    """A tool call the server will make: id, tool name and the JSON text of its arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Everything one response says, independent of the wire format.

    Attributes:
        id: the response id (``chatcmpl-...`` or ``msg_...``).
        model: the model named in the request.
        text: the answer text to send (after the partial answer, cut at ``max_tokens``).
        tool_calls: the tool calls to send after the text.
        finish: why the answer ends, normalized.
        input_tokens: words in the prompt.
        output_tokens: text words plus tool argument fragments sent.
    """

    id: str
    model: str
    text: str
    tool_calls: tuple[PlannedToolCall, ...]
    finish: FinishReason
    input_tokens: int
    output_tokens: int


def _tool_names(body: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
        if isinstance(name, str) and name:
            names.append(name)
    chosen = _chosen_tool(body.get("tool_choice"))
    return [chosen] if chosen in names else names


def _chosen_tool(choice: Any) -> str | None:
    """The tool a ``tool_choice`` names: OpenAI ``{"type": "function", "function": {"name"}}``,
    Anthropic ``{"type": "tool", "name"}``; None for any other choice."""
    if not isinstance(choice, Mapping):
        return None
    function = choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
    return name if isinstance(name, str) else None


def _tool_arguments(number: int) -> str:
    arguments = {"city": 'Zürich "Old town"', "days": number + 1}
    return orjson.dumps(arguments).decode()


def _fragments(text: str) -> list[str]:
    return [text[i : i + _FRAGMENT] for i in range(0, len(text), _FRAGMENT)] or [""]


def _digest(body: Mapping[str, Any]) -> str:
    """A hex digest of the original conversation: a continuation keeps the ids of the original."""
    original, _ = split_partial(body)
    key = {"model": body.get("model"), "messages": original, "tools": body.get("tools")}
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _prompt_words(body: Mapping[str, Any]) -> int:
    texts = [_content_text(m.get("content")) for m in _messages(body)]
    system = body.get("system")
    if system is not None:
        texts.append(_content_text(system))
    return sum(len(text.split()) for text in texts)


def plan_reply(body: Mapping[str, Any], *, format: FormatName, tool_calls: int = 0) -> Reply:
    """Plan the response to ``body``: text, tool calls, finish reason and usage.

    ``tool_calls`` > 0 asks for that many parallel calls, named after the offered ``tools`` in
    turn (no tools offered: no calls); then the text is empty for OpenAI and a short preamble
    for Anthropic (continued, like any answer, after a prefill). ``max_tokens`` /
    ``max_completion_tokens`` count words and cut the text (finish reason ``length``).
    """
    digest = _digest(body)
    names = _tool_names(body)
    calls: tuple[PlannedToolCall, ...] = ()
    if tool_calls > 0 and names:
        prefix = "toolu_" if format == "anthropic" else "call_"
        calls = tuple(
            PlannedToolCall(
                f"{prefix}{digest[:16]}{i:02d}", names[i % len(names)], _tool_arguments(i)
            )
            for i in range(tool_calls)
        )
        preamble = _TOOL_PREAMBLE if format == "anthropic" else ""
        text = _rest(preamble, split_partial(body)[1])
    else:
        text = answer_for(body)
    finish: FinishReason = "tool_calls" if calls else "stop"
    words = tokens(text)
    limit = _max_tokens(body)
    if limit is not None and len(words) > limit:
        words, calls, finish = words[:limit], (), "length"
        text = "".join(words)
    output = len(words) + sum(len(_fragments(call.arguments)) for call in calls)
    return Reply(
        id=_ID_PREFIX[format] + digest,
        model=str(body.get("model") or "streamkit-echo"),
        text=text,
        tool_calls=calls,
        finish=finish,
        input_tokens=_prompt_words(body),
        output_tokens=output,
    )


_RAW_FINISH: Final[dict[FormatName, dict[FinishReason, str]]] = {
    "openai": {"stop": "stop", "length": "length", "tool_calls": "tool_calls"},
    "anthropic": {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"},
    "responses": {"stop": "completed", "length": "max_output_tokens", "tool_calls": "completed"},
    "gemini": {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"},
}
# Gemini's response ids are opaque strings without a prefix.
_ID_PREFIX: Final[dict[FormatName, str]] = {
    "openai": "chatcmpl-",
    "anthropic": "msg_",
    "responses": "resp_",
    "gemini": "",
}


def reply_events(reply: Reply, *, format: FormatName, usage: bool = True) -> list[ContentEvent]:
    """The content events of ``reply`` in stream order, as the format's encoder expects them.

    Anthropic gets a ``Usage`` right after ``StreamStart`` (for ``message_start``) and one after
    ``Finish``; OpenAI gets one usage event at the end, only when ``usage`` is True.
    """
    events: list[ContentEvent] = [StreamStart(id=reply.id, model=reply.model)]
    if format == "anthropic":
        events.append(Usage(input_tokens=reply.input_tokens, output_tokens=1))
    events.extend(TextDelta(word) for word in tokens(reply.text))
    offset = 1 if format == "anthropic" and reply.text else 0
    for number, call in enumerate(reply.tool_calls):
        index = number + offset
        for position, fragment in enumerate(_fragments(call.arguments)):
            first = position == 0
            events.append(
                ToolCallDelta(
                    index,
                    id=call.id if first else None,
                    name=call.name if first else None,
                    arguments=fragment,
                )
            )
        events.append(ToolCallEnd(index))
    events.append(Finish(reply.finish, raw_reason=_RAW_FINISH[format][reply.finish]))
    if format == "anthropic" or usage:
        events.append(Usage(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens))
    return events
