"""The final assembled message: a value holding everything a stream said.

``Message`` (with its ``Choice``, content block and ``TokenLogprobs`` parts) is a plain frozen
value. Each choice keeps its content blocks in the order the provider sent them (``content``:
``TextBlock``, ``ReasoningBlock``, ``ToolCall``, ``OtherBlock``) beside the joined views most code
wants (``text``, ``reasoning``, ``tool_calls``). It is
folded from events by ``streamkit.fold.message_builder`` (``build_message``, and the operator
``streamkit.operators.to_message``), and converted to each API's non-streaming response body by
that API's format (``message.to_openai()`` and ``message.to_anthropic()`` are shortcuts to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from streamkit.events import FinishReason, ProviderData, ToolCall, Usage

__all__ = [
    "Choice",
    "ContentBlock",
    "Message",
    "OtherBlock",
    "ReasoningBlock",
    "TextBlock",
    "TokenLogprobs",
]


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One block of answer text, with the citations the provider attached to it.

    Attributes:
        index: the content block's index in the choice.
        text: the block's text ("" for a block the provider opened and left empty).
        citations: the provider's citation objects, in the order received.
    """

    index: int
    text: str = ""
    citations: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class OtherBlock:
    """A content block with no typed form here: a server tool's call or result, a newer kind.

    Attributes:
        index: the content block's index in the choice.
        kind: the provider's block type, e.g. ``server_tool_use``, ``web_search_tool_result``.
        data: the block as the provider's non-streaming API returns it (streamed input JSON
            parsed into ``input``).
    """

    index: int
    kind: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class TokenLogprobs:
    """A choice's token log probabilities, as the provider's token objects.

    Attributes:
        content: one object per answer token, or None when the provider sent none.
        refusal: one object per refusal token, or None.
    """

    content: tuple[Any, ...] | None = None
    refusal: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """One block of the model's reasoning, as Anthropic sends it back to be passed on unchanged.

    Attributes:
        index: the content block's index in the stream.
        kind: ``thinking`` (readable ``text``) or ``redacted`` (``text`` is the encrypted data of
            a ``redacted_thinking`` block).
        text: the thinking text, or the redacted block's data.
        signature: the thinking block's signature (the last one sent: each is the whole value).
    """

    index: int
    kind: Literal["thinking", "redacted"] = "thinking"
    text: str = ""
    signature: str = ""


#: One content block of a choice, in the provider's order (``Choice.content``).
ContentBlock: TypeAlias = TextBlock | ReasoningBlock | ToolCall | OtherBlock


@dataclass(frozen=True, slots=True)
class Choice:
    """One complete answer; OpenAI's ``n > 1`` gives several, Anthropic always one.

    Attributes:
        index: the choice's index.
        text: the answer text.
        reasoning: the readable reasoning (Anthropic thinking), all blocks joined.
        refusal: the refusal message (OpenAI ``refusal``), or None.
        tool_calls: the tool calls, by index.
        finish_reason: why generation stopped, normalized; None if the stream never said.
        raw_finish_reason: the provider's own word for it.
        reasoning_blocks: the reasoning as separate blocks with their signatures, for passing
            back to Anthropic unchanged.
        content: every content block in the order the provider sent them: text blocks (with
            citations), reasoning blocks, tool calls and other blocks (server tools). Empty for
            a choice built by hand; the response bodies then use the fields above.
        logprobs: token log probabilities, when the provider sent any.
        stop_sequence: the stop sequence that ended the answer, when the provider says.
    """

    index: int
    text: str = ""
    reasoning: str = ""
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()
    content: tuple[ContentBlock, ...] = ()
    logprobs: TokenLogprobs | None = None
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A complete response: the provider's id, the model, and each choice.

    ``text``, ``tool_calls`` and ``finish_reason`` read choice 0, the only one unless OpenAI was
    asked for ``n > 1``.

    Attributes:
        id: the provider's response id.
        model: the model that answered.
        role: the speaker's role.
        choices: each choice, by index.
        usage: the token counts, merged over the stream's reports; None if none came.
        created: the provider's creation time (Unix seconds), when it sent one.
        system_fingerprint: the backend configuration the provider names, when it does.
        service_tier: the tier that served the request, when the provider says.
        provider_data: data sent outside any choice that no field above holds (e.g. Azure's
            ``prompt_filter_results``), in the order received.
    """

    id: str
    model: str
    role: str = "assistant"
    choices: tuple[Choice, ...] = ()
    usage: Usage | None = None
    created: int | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    provider_data: tuple[ProviderData, ...] = ()

    @property
    def text(self) -> str:
        """Choice 0's text ("" when there is no choice)."""
        choice = self._first()
        return choice.text if choice else ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """Choice 0's tool calls."""
        choice = self._first()
        return choice.tool_calls if choice else ()

    @property
    def finish_reason(self) -> FinishReason | None:
        """Why choice 0 stopped, normalized."""
        choice = self._first()
        return choice.finish_reason if choice else None

    def _first(self) -> Choice | None:
        return next((c for c in self.choices if c.index == 0), None)

    def to_openai(self, *, created: int | None = None) -> dict[str, Any]:
        """This message as an OpenAI ``ChatCompletion`` body (``object: "chat.completion"``).

        A convenience for ``streamkit.formats.openai.FORMAT.response_body(message)``: the body's
        shape is the format's to define (see there for how each field is filled).

        Args:
            created: the ``created`` Unix time; by default the message's own (0 if it has none).
        """
        # Deferred: the format sits a layer above this value and owns the body's shape.
        from streamkit.formats.openai import FORMAT

        return FORMAT.response_body(self, created=created)

    def to_anthropic(self) -> dict[str, Any]:
        """This message as an Anthropic ``Message`` body (``type: "message"``), from choice 0.

        A convenience for ``streamkit.formats.anthropic.FORMAT.response_body(message)``.

        Raises:
            ToolCallError: a tool call's arguments are not a valid JSON object.
        """
        # Deferred: the format sits a layer above this value and owns the body's shape.
        from streamkit.formats.anthropic import FORMAT

        return FORMAT.response_body(self)
