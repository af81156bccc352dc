"""One event model for both wire formats.

A streamed answer, OpenAI's or Anthropic's, becomes a sequence of these frozen values::

    StreamStart Usage? (TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta | ToolCallEnd)*
    Finish Usage?

(Anthropic reports usage at the start and the end, OpenAI at the end when asked; with ``n > 1``
each choice has its own ``StreamStart`` and ``Finish``.)

Each keeps ``raw``, the JSON payload it was decoded from (so nothing of the provider's data is
lost), ``received_at``, the monotonic time (``time.monotonic()`` seconds, or a scheduler's clock)
at which its bytes arrived, so metrics need no second clock, and ``wire_bytes``, the bytes read
from the network since the previous event (summed over a stream: every byte received up to that
event). Two events compare equal on their content alone: ``raw``, ``received_at`` and
``wire_bytes`` are left out of ``==``.

Operators add their own: ``ToolCall`` (assembled), ``Retrying`` and ``Rewind`` (retry layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

__all__ = [
    "ContentEvent",
    "Finish",
    "FinishReason",
    "ReasoningDelta",
    "RefusalDelta",
    "Retrying",
    "Rewind",
    "StreamEvent",
    "StreamStart",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "Usage",
    "restamp",
]

#: Why generation stopped, in the same words for both formats (``Finish.raw_reason`` keeps the
#: provider's own).
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "other"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    raw: Any = field(default=None, compare=False, repr=False)
    received_at: float = field(default=0.0, compare=False, repr=False)
    wire_bytes: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StreamStart(_Event):
    """The answer began: the provider's message id, the model, the speaker's role."""

    id: str
    model: str
    role: str = "assistant"
    choice: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta(_Event):
    """A piece of answer text for one choice (OpenAI ``n > 1`` gives several)."""

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta(_Event):
    """A piece of the model's reasoning (Anthropic thinking).

    ``kind`` is ``thinking`` for readable text, ``signature`` for the block's signature, and
    ``redacted`` for an encrypted ``redacted_thinking`` block; ``index`` is the content block.
    """

    text: str
    kind: Literal["thinking", "signature", "redacted"] = "thinking"
    index: int = 0
    choice: int = 0


@dataclass(frozen=True, slots=True)
class RefusalDelta(_Event):
    """A piece of a refusal message (OpenAI ``delta.refusal``)."""

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallDelta(_Event):
    """A fragment of a tool call: the first carries ``id`` and ``name``, all carry ``arguments``.

    ``index`` tells parallel calls apart: OpenAI's ``tool_calls[].index``, Anthropic's content
    block index. ``arguments`` is a piece of JSON text, not parseable on its own.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallEnd(_Event):
    """No more fragments will come for the tool call at ``index``."""

    index: int
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall(_Event):
    """A complete tool call with parsed arguments.

    ``valid`` is False when ``raw_arguments`` was not valid JSON (then ``arguments`` is None);
    the tool-call assembler emits such values only when asked to, else raises ``ToolCallError``.
    """

    id: str
    name: str
    arguments: Any
    raw_arguments: str
    index: int = 0
    choice: int = 0
    valid: bool = True


@dataclass(frozen=True, slots=True)
class Usage(_Event):
    """Token counts reported by the server; later reports supersede earlier ones."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True, slots=True)
class Finish(_Event):
    """Generation of one choice ended: ``reason`` normalized, ``raw_reason`` the provider's word."""

    reason: FinishReason
    raw_reason: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Retrying(_Event):
    """The retry layer is about to try again after ``delay`` seconds because of ``cause``.

    ``continued`` is True when the next attempt continues the delivered partial answer instead
    of repeating it (``resume="continue"``): its text, and its ``Usage``, cover only the rest.
    """

    attempt: int
    delay: float
    cause: BaseException = field(compare=False)
    continued: bool = False


@dataclass(frozen=True, slots=True)
class Rewind(_Event):
    """Discard everything shown so far: a restarted stream diverged from what was delivered."""

    attempt: int


#: Events the format decoders produce.
ContentEvent: TypeAlias = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolCallDelta
    | ToolCallEnd
    | Usage
    | Finish
)
#: Anything that travels down a streamkit pipeline.
StreamEvent: TypeAlias = ContentEvent | ToolCall | Retrying | Rewind


def restamp(event: StreamEvent, received_at: float) -> StreamEvent:
    """Return ``event`` with another receive time (used when replaying recordings)."""
    return replace(event, received_at=received_at)
