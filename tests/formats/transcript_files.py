"""Where the transcripts are, and which wire format each speaks (by its file name's prefix)."""

from __future__ import annotations

from pathlib import Path

from streamkit.formats import FormatName

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def format_of(name: str) -> FormatName:
    """The wire format a transcript's file name starts with; other servers speak OpenAI's."""
    for fmt in ("anthropic", "responses", "gemini"):
        if name.startswith(f"{fmt}_"):
            return fmt
    return "openai"
