"""One event model for both wire formats.

A streamed answer, whatever its wire format, becomes a sequence of these frozen values::

    StreamStart Usage? (BlockStart | TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta
                        | ToolCallEnd | Citation | BlockDelta | Logprobs | ProviderData)*
    Finish Usage?

(Anthropic reports usage at the start and the end, OpenAI at the end when asked; with ``n > 1``
each choice has its own ``StreamStart`` and ``Finish``: exactly one of each per choice.)

Content is addressed by ``choice`` (OpenAI's ``n > 1``; 0 elsewhere) and, within a choice, by
the content block ``index`` (Anthropic's content blocks; OpenAI's tool call ``index``). A format
whose blocks can be empty or have no typed deltas announces each block with ``BlockStart``, so
the block's kind and position are kept even when nothing else is said about it. Data with meaning
but no typed home elsewhere gets a typed event (``Citation``, ``Logprobs``); data without one
still gets an event, ``BlockDelta`` inside a block and ``ProviderData`` outside, so a consumer
never needs ``raw`` to see that something was said.

Each keeps ``raw``, the JSON payload it was decoded from (so nothing of the provider's data is
lost), ``received_at``, the monotonic time (``time.monotonic()`` seconds, or a scheduler's clock)
at which its bytes arrived, so metrics need no second clock, and ``wire_bytes``, the bytes read
from the network since the previous event (summed over a stream: every byte received up to that
event). Two events compare equal on their content alone: ``raw``, ``received_at`` and
``wire_bytes`` are left out of ``==``, and so are ``StreamStart``'s envelope metadata (``created``,
``system_fingerprint``, ``service_tier``) and ``Usage.details``; ``Message`` keeps them all.

Operators add their own: ``ToolCall`` (assembled), ``Retrying`` and ``Rewind`` (retry layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

__all__ = [
    "BlockDelta",
    "BlockStart",
    "Citation",
    "ContentEvent",
    "Finish",
    "FinishReason",
    "Logprobs",
    "ProviderData",
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
    """The answer (one choice of it) began: the provider's message id, the model, the role.

    One per choice. ``created`` is the provider's creation time (Unix seconds) when it sends one;
    ``system_fingerprint`` the backend configuration the provider names (OpenAI); ``service_tier``
    the tier that served the request, when the provider says.
    """

    id: str
    model: str
    role: str = "assistant"
    choice: int = 0
    # Envelope metadata, like received_at, is left out of ==: the answer is the same answer
    # whenever and wherever it was served (``created`` is a clock reading).
    created: int | None = field(default=None, compare=False)
    system_fingerprint: str | None = field(default=None, compare=False)
    service_tier: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BlockStart(_Event):
    """A content block opened: its ``index`` within the choice and the provider's ``kind``.

    ``kind`` is the provider's own word (``text``, ``thinking``, ``tool_use``,
    ``server_tool_use``, ``web_search_tool_result``, ...). ``block`` is the block as the provider
    opened it (a JSON object): for kinds with typed deltas it only adds what they leave out; for
    the others (server tools, kinds newer than this version) it is the block's content.
    """

    index: int
    kind: str
    block: Any = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class BlockDelta(_Event):
    """A delta of a content block that has no typed event: the provider's delta object.

    A server tool's ``input_json_delta`` (``{"type": "input_json_delta", "partial_json": ...}``)
    and delta types newer than this version come as these.
    """

    index: int
    delta: Any
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Citation(_Event):
    """A citation attached to the text block at ``index``: the provider's citation object."""

    citation: Any
    index: int = 0
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Logprobs(_Event):
    """Token log probabilities for a piece of a choice: lists of the provider's token objects.

    ``content`` covers answer tokens and ``refusal`` refusal tokens; either is None when the
    provider sent none. Sent even when the piece of text it belongs to is empty.
    """

    content: tuple[Any, ...] | None = None
    refusal: tuple[Any, ...] | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ProviderData(_Event):
    """Data the provider sent outside any choice that no other event carries.

    ``kind`` names it (the provider's field or event name, e.g. ``prompt_filter_results``),
    ``data`` is its JSON value. Kept so that nothing received is lost.
    """

    kind: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class TextDelta(_Event):
    """A piece of answer text for one choice (OpenAI ``n > 1`` gives several).

    ``index`` is the content block it belongs to (Anthropic can send several text blocks).
    """

    text: str
    choice: int = 0
    index: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta(_Event):
    """A piece of the model's reasoning (Anthropic thinking).

    ``kind`` is ``thinking`` for readable text, ``signature`` for the block's signature, and
    ``redacted`` for an encrypted ``redacted_thinking`` block; ``index`` is the content block.
    Thinking text is streamed in pieces to be joined; a signature is not: each one is the whole
    value and replaces an earlier one (Anthropic's ``signature_delta``), as is a redacted block's
    data.
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
    """Token counts reported by the server; later reports supersede earlier ones.

    ``input_tokens`` and ``output_tokens`` are the totals in every format.
    ``cached_input_tokens`` are input tokens read from the provider's prompt cache, and
    ``cache_creation_input_tokens`` input tokens written to it; ``reasoning_tokens`` are the
    output tokens spent on reasoning. ``details`` is the provider's whole usage object as sent
    (every nested detail, e.g. OpenAI's ``prompt_tokens_details``, Anthropic's
    ``server_tool_use``), merged across reports as the provider documents.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    details: Any = field(default=None, compare=False)

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True, slots=True)
class Finish(_Event):
    """Generation of one choice ended: ``reason`` normalized, ``raw_reason`` the provider's word.

    ``stop_sequence`` is the stop sequence that ended it, when the provider says which.
    """

    reason: FinishReason
    raw_reason: str
    choice: int = 0
    stop_sequence: str | None = None


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
    | BlockStart
    | BlockDelta
    | Citation
    | Logprobs
    | ProviderData
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
