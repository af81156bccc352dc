"""``python -m streamkit``: the same as the ``streamkit`` command."""

from __future__ import annotations

import sys

from streamkit.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
