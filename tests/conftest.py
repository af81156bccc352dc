"""Shared fixtures: a started embedded server on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from streamkit.server import EmbeddedServer


@pytest_asyncio.fixture
async def embedded_server() -> AsyncIterator[EmbeddedServer]:
    """A started ``EmbeddedServer`` on port 0, closed after the test."""
    async with EmbeddedServer() as server:
        yield server


@pytest.fixture
def server_url(embedded_server: EmbeddedServer) -> str:
    """The root URL of the ``embedded_server`` fixture (no ``/v1``)."""
    return embedded_server.url
