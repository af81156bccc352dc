"""The distribution's name and the one way to say that an optional dependency is missing.

The import name is ``streamkit``; the distribution on the package index is ``streamkit-llm``,
because ``streamkit`` there is an unrelated project. Every install hint is built here, so no
message ever tells a user to install the wrong thing.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DISTRIBUTION", "install_hint", "missing_extra"]

#: The name to ``pip install``; ``import streamkit`` stays the import name.
DISTRIBUTION: Final = "streamkit-llm"


def install_hint(extra: str) -> str:
    """The shell command that installs ``extra``, quoted so that zsh leaves the brackets alone."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(extra: str, needs: str) -> ImportError:
    """An ``ImportError`` saying what needs the extra and how to install it.

    Args:
        extra: the extra's name in ``pyproject.toml`` (``plot``, ``jupyter``, ...).
        needs: what needs it, as the start of a sentence (``"plotting needs matplotlib"``).

    Returns:
        The error, for ``raise missing_extra(...) from exc``.
    """
    return ImportError(f"{needs}: {install_hint(extra)}")
