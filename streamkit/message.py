"""The final assembled message: a value holding everything a stream said.

``Message`` (with its ``Choice`` and ``ReasoningBlock`` parts) is a plain frozen value. It is
folded from events by ``streamkit.fold.message_builder`` (``build_message``, and the operator
``streamkit.operators.to_message``), and converted to each API's non-streaming response body by
that API's format (``message.to_openai()`` and ``message.to_anthropic()`` are shortcuts to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from streamkit.events import FinishReason, ToolCall, Usage

__all__ = ["Choice", "Message", "ReasoningBlock"]


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """One block of the model's reasoning, as Anthropic sends it back to be passed on unchanged.

    Attributes:
        index: the content block's index in the stream.
        kind: ``thinking`` (readable ``text``) or ``redacted`` (``text`` is the encrypted data of
            a ``redacted_thinking`` block).
        text: the thinking text, or the redacted block's data.
        signature: the thinking block's signature.
    """

    index: int
    kind: Literal["thinking", "redacted"] = "thinking"
    text: str = ""
    signature: str = ""


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
    """

    index: int
    text: str = ""
    reasoning: str = ""
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """A complete response: the provider's id, the model, and each choice.

    ``text``, ``tool_calls`` and ``finish_reason`` read choice 0, the only one unless OpenAI was
    asked for ``n > 1``.
    """

    id: str
    model: str
    role: str = "assistant"
    choices: tuple[Choice, ...] = ()
    usage: Usage | None = None

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

    def to_openai(self, *, created: int = 0) -> dict[str, Any]:
        """This message as an OpenAI ``ChatCompletion`` body (``object: "chat.completion"``).

        A convenience for ``streamkit.formats.openai.FORMAT.response_body(message)``: the body's
        shape is the format's to define (see there for how each field is filled).

        Args:
            created: the ``created`` Unix time; a stream's chunks carry it, events do not.
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
