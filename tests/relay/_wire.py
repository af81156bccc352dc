"""Helpers for the relay tests: transcripts as events, and UI message stream bodies as parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from streamkit.events import ContentEvent
from streamkit.formats import get_format
from streamkit.sse import SSEDecoder

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "formats" / "transcripts"


def transcript_events(name: str) -> list[ContentEvent]:
    """The events of a recorded provider stream (``anthropic_tools.sse``...)."""
    decoder = get_format(name.split("_", 1)[0]).decoder()
    sse = SSEDecoder()
    events = [e for s in sse.feed((TRANSCRIPTS / name).read_bytes()) for e in decoder.decode(s)]
    sse.close()
    return events


def ui_parts(body: bytes) -> list[Any]:
    """The parts of a UI message stream body, ``"[DONE]"`` included; comments are skipped."""
    parts: list[Any] = []
    for event in SSEDecoder().feed(body):
        parts.append("[DONE]" if event.data == "[DONE]" else orjson.loads(event.data))
    return parts


def fold_ui_parts(parts: list[Any]) -> dict[str, Any]:
    """What a UI message holds after ``parts``: text, reasoning, tool inputs, errors, data."""
    text: dict[str, str] = {}
    reasoning: dict[str, str] = {}
    tools: dict[str, Any] = {}
    out: dict[str, Any] = {"errors": [], "data": []}
    for part in parts:
        if part == "[DONE]":
            continue
        kind = part["type"]
        if kind == "text-delta":
            text[part["id"]] = text.get(part["id"], "") + part["delta"]
        elif kind == "reasoning-delta":
            reasoning[part["id"]] = reasoning.get(part["id"], "") + part["delta"]
        elif kind == "tool-input-available":
            tools[part["toolCallId"]] = (part["toolName"], part["input"])
        elif kind == "error":
            out["errors"].append(part["errorText"])
        elif kind.startswith("data-"):
            out["data"].append(part)
    out["text"] = "".join(text.values())
    out["reasoning"] = "".join(reasoning.values())
    out["tools"] = tools
    return out
