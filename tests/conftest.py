"""Shared fixtures: a started embedded server on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from hypothesis import settings

from streamkit.server import EmbeddedServer

# The machines that run the suite are shared and noisy: a property test's examples are judged by
# what they return, never by how long one took.
settings.register_profile("shared-machine", deadline=None)
settings.load_profile("shared-machine")


@pytest_asyncio.fixture
async def embedded_server() -> AsyncIterator[EmbeddedServer]:
    """A started ``EmbeddedServer`` on port 0, closed after the test."""
    async with EmbeddedServer() as server:
        yield server


@pytest.fixture
def server_url(embedded_server: EmbeddedServer) -> str:
    """The root URL of the ``embedded_server`` fixture (no ``/v1``)."""
    return embedded_server.url
