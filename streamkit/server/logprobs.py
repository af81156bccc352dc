"""Token log probabilities for the embedded server, in OpenAI's ``logprobs.content`` shape.

Plausible and deterministic: each token's probability lies between 0.5 and 1 (so the chosen
token is the most likely one), the alternatives share part of what is left in falling order,
and all of it is derived from the token and its position, so the same answer always carries
the same numbers. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

__all__ = ["token_logprob"]

_ALTERNATIVES: Final = (
    " the",
    " a",
    ",",
    ".",
    " and",
    " of",
    " to",
    " in",
    " river",
    " light",
    " it",
    " was",
    " on",
    " that",
    " with",
    " as",
    " for",
    " at",
    " by",
    " from",
)


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def token_logprob(token: str, position: int, top: int) -> dict[str, Any]:
    """One entry of ``choices[].logprobs.content``: the token, its logprob, its UTF-8 bytes and
    ``top`` alternatives (``top_logprobs``), the token itself first.

    Args:
        token: the token's text.
        position: its index in the answer (the same token gets other numbers elsewhere).
        top: how many ``top_logprobs`` to give (0 to 20).
    """
    digest = hashlib.sha256(f"{position}:{token}".encode()).digest()
    probability = 0.5 + 0.4999 * int.from_bytes(digest[:4], "big") / 2**32
    logprob = round(math.log(probability), 6)
    entry = _entry(token, logprob)
    alternatives = [_entry(token, logprob)]
    rest = 1.0 - probability
    start = digest[4] % len(_ALTERNATIVES)
    others = [t for t in _ALTERNATIVES[start:] + _ALTERNATIVES[:start] if t != token]
    for rank, other in enumerate(others[: max(top - 1, 0)], start=1):
        share = rest * 0.5**rank  # falling shares, together less than what is left
        alternatives.append(_entry(other, round(math.log(share), 6)))
    entry["top_logprobs"] = alternatives[:top]
    return entry
