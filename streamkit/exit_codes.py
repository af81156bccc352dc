"""The exit codes of the ``streamkit`` commands, one definition for every subcommand."""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK: Final = 0
#: The work failed: a stream, or (``batch``) a row, or a budget stopped the run.
EXIT_FAILED: Final = 1
#: Bad arguments or input.
EXIT_USAGE: Final = 2
#: Ctrl-C, as a shell reports SIGINT.
EXIT_INTERRUPTED: Final = 130
