"""The chat page: ``streamkit web`` serves a small page and its ``/api/chat`` relay.

``WebChat`` is the server (``streamkit.web.app``); ``streamkit.web.command`` is the CLI
subcommand. The page itself is static HTML, CSS and JavaScript in ``static/``.
"""

from __future__ import annotations

from streamkit.web.app import WebChat

__all__ = ["WebChat"]
