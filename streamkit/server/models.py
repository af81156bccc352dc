"""The models the embedded server knows: what ``GET /v1/models`` lists and which answer how.

The server answers any model name; these are the ones ``models.list`` shows and
``models.retrieve`` finds, and the names that decide behaviour: OpenAI reasoning models (the
``o`` series, ``gpt-5``) report reasoning tokens and take ``reasoning_effort``. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

__all__ = ["MODELS", "KnownModel", "find_model", "is_reasoning_model"]


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A model the server lists: its id, who makes it, when it was released, how it answers."""

    id: str
    owned_by: Literal["openai", "anthropic", "streamkit"]
    display_name: str
    created: int  # Unix time

    @property
    def created_at(self) -> str:
        """``created`` as Anthropic writes it (RFC 3339, UTC)."""
        return datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def reasoning(self) -> bool:
        """Whether the model reasons before it answers (reports reasoning tokens)."""
        return is_reasoning_model(self.id)


MODELS: Final = (
    KnownModel("streamkit-echo", "streamkit", "Streamkit Echo", 1_704_067_200),
    KnownModel("gpt-4o", "openai", "GPT-4o", 1_715_367_049),
    KnownModel("gpt-4o-mini", "openai", "GPT-4o mini", 1_721_172_741),
    KnownModel("gpt-4.1", "openai", "GPT-4.1", 1_744_316_542),
    KnownModel("o3-mini", "openai", "o3-mini", 1_737_146_383),
    KnownModel("o4-mini", "openai", "o4-mini", 1_744_225_351),
    KnownModel("gpt-5", "openai", "GPT-5", 1_754_425_777),
    KnownModel("claude-sonnet-4-6", "anthropic", "Claude Sonnet 4.6", 1_771_200_000),
    KnownModel("claude-sonnet-4-5", "anthropic", "Claude Sonnet 4.5", 1_759_104_000),
    KnownModel("claude-haiku-4-5", "anthropic", "Claude Haiku 4.5", 1_760_486_400),
    KnownModel("claude-opus-4-1", "anthropic", "Claude Opus 4.1", 1_754_352_000),
)

# OpenAI's reasoning families: o1, o3, o4-mini..., gpt-5 (but not the gpt-5-chat models).
_REASONING: Final = re.compile(r"^(o[1-9]\b|o[1-9]-|gpt-5(?!.*chat))")


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` names an OpenAI reasoning model (``o3-mini``, ``o4-mini``, ``gpt-5``)."""
    return bool(_REASONING.match(model))


def find_model(model_id: str) -> KnownModel | None:
    """The known model with this id, or None."""
    return next((m for m in MODELS if m.id == model_id), None)
