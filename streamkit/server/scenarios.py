"""What the embedded server answers: deterministic scripts derived from the request alone.

The answer text is seeded from the user messages (``answer_for``), so the same conversation always
gets the same English sentences, 60 to 150 words, and tests can compute what to expect. A
request that carries a partial answer (Anthropic prefill: a last ``assistant`` message; OpenAI: an
``assistant`` message followed by a user message starting with "continue", or a last assistant
message) gets the rest of the original answer, so ``partial + answer_for(continuation) ==
answer_for(original)``.

``plan_reply`` adds the rest of a response (token limit, tool calls, usage) and ``reply_events``
turns it into the ``ContentEvent`` sequence that the formats' encoders write. Pure: no I/O.

What the request asks for is honoured (see the README's table): ``n`` choices with distinct
answers, stop sequences (the text stops before the first one), ``response_format`` (a JSON
object, or an instance of the given JSON schema, streamed in pieces), tool choice and
``parallel_tool_calls`` / ``disable_parallel_tool_use``, tool arguments valid under each tool's
schema, Anthropic ``thinking`` (a thinking block and its signature before the text), and the
reasoning tokens of OpenAI reasoning models. Ids come from a ``nonce`` the server draws per
response; everything else from the conversation, so a retried request gets the same content.
"""

from __future__ import annotations

import base64
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
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.formats import FormatName
from streamkit.server.models import is_reasoning_model
from streamkit.server.schema_instance import SchemaError, instance_for

__all__ = [
    "PlannedChoice",
    "PlannedToolCall",
    "Reply",
    "answer_for",
    "full_answer",
    "input_tokens",
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


def full_answer(messages: Sequence[Mapping[str, Any]], *, variant: int = 0) -> str:
    """The whole answer to ``messages``, seeded from the text of their user messages.

    ``variant`` > 0 gives another answer to the same messages (OpenAI ``n`` choices).
    """
    seed_text = "\n".join(
        _content_text(m.get("content")) for m in messages if m.get("role") == "user"
    )
    if variant:
        seed_text += f"\n\x00choice {variant}"
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
class PlannedChoice:
    """One choice of a reply (OpenAI ``n`` gives several; Anthropic always one).

    Attributes:
        index: the choice's index.
        pieces: the answer text as streamed, one ``TextDelta`` (one token) each.
        tool_calls: the tool calls to send after the text.
        finish: why the choice ends, normalized.
        raw_finish: the same in the format's own word (``end_turn``, ``stop_sequence``...).
        stop_sequence: the stop sequence that ended the text, if one did.
    """

    index: int
    pieces: tuple[str, ...]
    tool_calls: tuple[PlannedToolCall, ...]
    finish: FinishReason
    raw_finish: str
    stop_sequence: str | None = None

    @property
    def text(self) -> str:
        """The text sent."""
        return "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class Reply:
    """Everything one response says, independent of the wire format.

    Attributes:
        id: the response id (``chatcmpl-...``, ``msg_...``, ``resp_...`` or Gemini's bare id).
        model: the model named in the request.
        choices: each choice's text, tool calls and finish.
        input_tokens: words in the prompt (as ``input_tokens`` counts them).
        output_tokens: every token produced: text pieces and tool argument fragments of all
            choices, thinking pieces and reasoning tokens.
        thinking: Anthropic thinking text as streamed, before the answer (empty: no thinking).
        signature: the thinking block's signature.
        reasoning_tokens: tokens an OpenAI reasoning model spent reasoning (not sent).
        top_logprobs: None when logprobs were not asked for, else alternatives per token.
    """

    id: str
    model: str
    choices: tuple[PlannedChoice, ...]
    input_tokens: int
    output_tokens: int
    thinking: tuple[str, ...] = ()
    signature: str = ""
    reasoning_tokens: int = 0
    top_logprobs: int | None = None

    @property
    def text(self) -> str:
        """Choice 0's text (after the partial answer, cut at a stop sequence or the limit)."""
        return self.choices[0].text

    @property
    def tool_calls(self) -> tuple[PlannedToolCall, ...]:
        """Choice 0's tool calls."""
        return self.choices[0].tool_calls

    @property
    def finish(self) -> FinishReason:
        """Why choice 0 ends, normalized."""
        return self.choices[0].finish

    @property
    def stop_sequence(self) -> str | None:
        """The stop sequence that ended choice 0, if one did."""
        return self.choices[0].stop_sequence


_RAW_FINISH: Final[dict[FormatName, dict[FinishReason, str]]] = {
    "openai": {"stop": "stop", "length": "length", "tool_calls": "tool_calls"},
    "anthropic": {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"},
    "responses": {"stop": "completed", "length": "max_output_tokens", "tool_calls": "completed"},
    "gemini": {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"},
}
#: Each API's response id prefix; Gemini's ids are opaque strings without one.
_ID_PREFIX: Final[dict[FormatName, str]] = {
    "openai": "chatcmpl-",
    "anthropic": "msg_01",
    "responses": "resp_",
    "gemini": "",
}
#: Reasoning tokens per ``reasoning_effort`` before a per-conversation spread (OpenAI spends
#: them in blocks of 64).
_REASONING_TOKENS: Final = {
    "none": 0,
    "minimal": 0,
    "low": 64,
    "medium": 192,
    "high": 448,
    "xhigh": 960,
}
_THINKING_OPENING: Final = "Let me think about what is being asked before I answer."


def _tools(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The offered tools as (name, JSON schema), narrowed to the one a ``tool_choice`` names."""
    tools: list[tuple[str, Any]] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        if isinstance(function, Mapping):
            name, schema = function.get("name"), function.get("parameters")
        else:
            name, schema = tool.get("name"), tool.get("input_schema")
        if isinstance(name, str) and name:
            tools.append((name, schema))
    chosen = _chosen_tool(body.get("tool_choice"))
    named = [tool for tool in tools if tool[0] == chosen]
    return named or tools


def _chosen_tool(choice: Any) -> str | None:
    """The tool a ``tool_choice`` names: OpenAI ``{"type": "function", "function": {"name"}}``,
    Anthropic ``{"type": "tool", "name"}``; None for any other choice."""
    if not isinstance(choice, Mapping):
        return None
    function = choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
    return name if isinstance(name, str) else None


def _choice_mode(choice: Any) -> str:
    """``none``, ``auto`` or ``forced`` (a tool must be called) for either API's tool_choice."""
    kind = choice.get("type") if isinstance(choice, Mapping) else choice
    if kind == "none":
        return "none"
    if kind in ("required", "any", "tool", "function"):
        return "forced"
    return "auto"


def _call_count(body: Mapping[str, Any], asked: int | None) -> int:
    """How many calls to make: ``tool_choice`` first (``none``: no call; forced: at least one),
    then what the ``x-streamkit-tool-calls`` header asked, then at most one when parallel
    calls are turned off (OpenAI ``parallel_tool_calls: false``, Anthropic
    ``disable_parallel_tool_use``)."""
    choice = body.get("tool_choice")
    mode = _choice_mode(choice)
    if mode == "none" or not body.get("tools"):
        return 0
    count = asked or 0
    if mode == "forced":
        count = max(count, 1)
    parallel_off = body.get("parallel_tool_calls") is False or (
        isinstance(choice, Mapping) and choice.get("disable_parallel_tool_use") is True
    )
    return min(count, 1) if parallel_off else count


def _legacy_arguments(number: int) -> dict[str, Any]:
    """Arguments for a tool whose schema names no properties: a fixed, recognisable shape."""
    return {"city": 'Zürich "Old town"', "days": number + 1}


def _arguments(schema: Any, number: int, seed: str) -> str:
    described = isinstance(schema, Mapping) and (
        schema.get("properties") or schema.get("$ref") or schema.get("anyOf")
    )
    if not described:
        return orjson.dumps(_legacy_arguments(number)).decode()
    try:
        value = instance_for(schema, seed=f"{seed}:{number}")
    except SchemaError:
        value = _legacy_arguments(number)
    return orjson.dumps(value).decode()


def _fragments(text: str) -> list[str]:
    return [text[i : i + _FRAGMENT] for i in range(0, len(text), _FRAGMENT)] or [""]


def _digest(body: Mapping[str, Any]) -> str:
    """A hex digest of the original conversation: a continuation gets the same content."""
    original, _ = split_partial(body)
    key = {"model": body.get("model"), "messages": original, "tools": body.get("tools")}
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def _conversation_seed(body: Mapping[str, Any]) -> str:
    """A digest of the original messages' text only, the same whichever API carries them."""
    original, _ = split_partial(body)
    text = "\n".join(f"{m.get('role')}: {_content_text(m.get('content'))}" for m in original)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def input_tokens(body: Mapping[str, Any]) -> int:
    """The prompt's token count as the server reports it (words of the messages and system
    prompt): ``usage.input_tokens`` of an answer and ``count_tokens`` of the same body agree."""
    texts = [_content_text(m.get("content")) for m in _messages(body)]
    system = body.get("system")
    if system is not None:
        texts.append(_content_text(system))
    return sum(len(text.split()) for text in texts)


def _stop_sequences(body: Mapping[str, Any], format: FormatName) -> list[str]:
    stop = body.get("stop_sequences" if format == "anthropic" else "stop")
    if isinstance(stop, str):
        stop = [stop]
    return [s for s in stop or () if isinstance(s, str) and s]


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """``text`` up to the earliest stop sequence (not included), and that sequence."""
    found = [(text.find(stop), stop) for stop in stops if stop in text]
    if not found:
        return text, None
    position, stop = min(found)
    return text[:position], stop


def _structured(body: Mapping[str, Any], seed: str, variant: int) -> str | None:
    """The JSON text a ``response_format`` asks for, or None for prose."""
    form = body.get("response_format")
    kind = form.get("type") if isinstance(form, Mapping) else None
    if kind == "json_object":
        answer = full_answer(split_partial(body)[0], variant=variant)
        first = answer.split(". ")[0].rstrip(".") + "."
        return orjson.dumps({"answer": first, "words": len(answer.split())}).decode()
    if kind == "json_schema" and isinstance(form, Mapping):
        spec = form.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        try:
            return orjson.dumps(instance_for(schema or {}, seed=f"{seed}:{variant}")).decode()
        except SchemaError:
            return "{}"
    return None


def _thinking(body: Mapping[str, Any], seed: str) -> tuple[str, ...]:
    thinking = body.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return ()
    budget = thinking.get("budget_tokens")
    budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else 1024
    rng = random.Random(seed)
    sentences = rng.sample(_SENTENCES, 3)
    text = " ".join([_THINKING_OPENING, *sentences, "Now I can write the answer."])
    return tuple(tokens(text)[:budget])


def _signature(thinking: tuple[str, ...]) -> str:
    digest = hashlib.sha512("".join(thinking).encode()).digest()
    return base64.b64encode(b"streamkit-thinking-v1:" + digest).decode()


def _reasoning_tokens(body: Mapping[str, Any], format: FormatName, seed: str) -> int:
    if format != "openai" or not is_reasoning_model(str(body.get("model") or "")):
        return 0
    effort = body.get("reasoning_effort")
    base = _REASONING_TOKENS.get(effort if isinstance(effort, str) else "medium", 192)
    if base == 0:
        return 0
    return base + 64 * (int(seed[:4], 16) % 4)


def _plan_choice(
    body: Mapping[str, Any],
    format: FormatName,
    index: int,
    calls: tuple[PlannedToolCall, ...],
    limit: int | None,
    seed: str,
) -> PlannedChoice:
    # Anthropic's messages API has no response_format: the field is ignored, as unknown ones are.
    structured = _structured(body, seed, index) if format == "openai" else None
    if calls:
        preamble = _TOOL_PREAMBLE if format == "anthropic" else ""
        text = _rest(preamble, split_partial(body)[1])
    elif structured is not None:
        text = structured
    elif index == 0:
        text = answer_for(body)
    else:
        text = full_answer(split_partial(body)[0], variant=index)
    text, stop = _cut_at_stop(text, _stop_sequences(body, format))
    pieces = _fragments(text) if structured is not None and not calls else tokens(text)
    pieces = [p for p in pieces if p]
    finish: FinishReason = "tool_calls" if calls and stop is None else "stop"
    if stop is not None:
        calls = ()  # the text stopped before the calls would have come
    if limit is not None and len(pieces) > limit:
        pieces, calls, finish, stop = pieces[:limit], (), "length", None
    raw = _RAW_FINISH[format][finish]
    if stop is not None and format == "anthropic":
        raw = "stop_sequence"
    return PlannedChoice(index, tuple(pieces), calls, finish, raw, stop)


def plan_reply(
    body: Mapping[str, Any],
    *,
    format: FormatName,
    tool_calls: int | None = None,
    nonce: str | None = None,
) -> Reply:
    """Plan the response to ``body``: each choice's text, tool calls and finish, and usage.

    Tool calls: ``tool_choice`` decides first (``none``: no call, whatever else asks; a
    required, ``any`` or named tool: at least one, of the named tool), then ``tool_calls``
    (the ``x-streamkit-tool-calls`` header), then ``parallel_tool_calls: false`` /
    ``disable_parallel_tool_use`` allow one at most. Calls are named after the offered tools in
    turn (no tools offered: no calls), with arguments valid under each tool's schema; the text
    is then empty for OpenAI and a short preamble for Anthropic. ``max_tokens`` /
    ``max_completion_tokens`` count words (after thinking or reasoning tokens) and cut the
    text (finish reason ``length``).

    Args:
        body: the request body (assumed valid; see ``streamkit.server.validation``).
        format: which API answers.
        tool_calls: how many calls the request asked for by header, or None.
        nonce: makes the response and tool-call ids unique; without it they derive from the
            conversation, so equal requests get equal ids.
    """
    digest = _digest(body)
    ident = nonce or digest
    n = body.get("n") if format == "openai" else 1
    n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    offered = _tools(body)
    count = _call_count(body, tool_calls) if offered else 0
    prefix = "toolu_01" if format == "anthropic" else "call_"
    call_ids = [hashlib.sha256(f"{ident}:{i}".encode()).hexdigest()[:24] for i in range(count)]
    # Arguments depend on the conversation and the tool alone: both APIs, and a retried
    # request, get the same calls.
    conversation = _conversation_seed(body)
    calls = tuple(
        PlannedToolCall(
            prefix + call_ids[i],
            offered[i % len(offered)][0],
            _arguments(offered[i % len(offered)][1], i, conversation),
        )
        for i in range(count)
    )
    thinking = _thinking(body, digest) if format == "anthropic" else ()
    reasoning = _reasoning_tokens(body, format, digest)
    limit = _max_tokens(body)
    if limit is not None:
        reasoning = min(reasoning, limit)
        limit = max(limit - len(thinking) - reasoning, 0)
    choices = tuple(_plan_choice(body, format, k, calls, limit, digest) for k in range(n))
    output = len(thinking) + reasoning
    for choice in choices:
        output += len(choice.pieces)
        output += sum(len(_fragments(call.arguments)) for call in choice.tool_calls)
    logprobs = body.get("logprobs") is True and format == "openai"
    top = body.get("top_logprobs")
    return Reply(
        id=_ID_PREFIX[format] + ident,
        model=str(body.get("model") or "streamkit-echo"),
        choices=choices,
        input_tokens=input_tokens(body),
        output_tokens=output,
        thinking=thinking,
        signature=_signature(thinking) if thinking else "",
        reasoning_tokens=reasoning,
        top_logprobs=(top if isinstance(top, int) else 0) if logprobs else None,
    )


def reply_events(reply: Reply, *, format: FormatName, usage: bool = True) -> list[ContentEvent]:
    """The content events of ``reply`` in stream order, as the format's encoder expects them.

    Choices follow one another, each from its ``StreamStart`` to its ``Finish``. Anthropic gets
    a ``Usage`` right after ``StreamStart`` (for ``message_start``), then the thinking and its
    signature, and one ``Usage`` after ``Finish``; OpenAI gets one usage event at the end, only
    when ``usage`` is True.
    """
    events: list[ContentEvent] = []
    for choice in reply.choices:
        k = choice.index
        events.append(StreamStart(id=reply.id, model=reply.model, choice=k))
        if format == "anthropic":
            events.append(Usage(input_tokens=reply.input_tokens, output_tokens=1))
            events.extend(ReasoningDelta(piece, index=0) for piece in reply.thinking)
            if reply.signature:
                events.append(ReasoningDelta(reply.signature, kind="signature", index=0))
        events.extend(TextDelta(piece, choice=k) for piece in choice.pieces)
        offset = 0
        if format == "anthropic":
            offset = int(bool(reply.thinking)) + int(bool(choice.pieces))
        for number, call in enumerate(choice.tool_calls):
            index = number + offset
            for position, fragment in enumerate(_fragments(call.arguments)):
                first = position == 0
                events.append(
                    ToolCallDelta(
                        index,
                        id=call.id if first else None,
                        name=call.name if first else None,
                        arguments=fragment,
                        choice=k,
                    )
                )
            events.append(ToolCallEnd(index, choice=k))
        events.append(Finish(choice.finish, raw_reason=choice.raw_finish, choice=k))
    if format == "anthropic" or usage:
        events.append(Usage(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens))
    return events
