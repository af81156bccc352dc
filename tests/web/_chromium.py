"""Headless Chromium driven over its DevTools protocol: just enough to test the chat page.

Debian's ``chromium`` is started with a fresh profile and ``--remote-debugging-port=0``; the port
it picked is read from ``DevToolsActivePort`` in the profile, and the page target is driven over
a websocket (aiohttp's client). Every wait has a timeout; ``aclose`` ends the browser and removes
the profile whatever happened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any, Self

import aiohttp

#: Flags for a headless browser run as root on a machine with no display and no network: no
#: sandbox (root), no GPU, and nothing that would call out to Google's services.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def find_chromium() -> str | None:
    """The Chromium executable, or None when none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless browser with one page; an async context manager."""

    def __init__(self, executable: str, *, width: int = 900, height: int = 1000) -> None:
        self._executable = executable
        self._size = f"--window-size={width},{height}"
        self._profile = Path(tempfile.mkdtemp(prefix="streamkit-chromium-"))
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        log = (self._profile / "chromium.log").open("wb")
        with log:
            self._process = await asyncio.create_subprocess_exec(
                self._executable,
                *FLAGS,
                self._size,
                f"--user-data-dir={self._profile}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        active = self._profile / "DevToolsActivePort"
        async with asyncio.timeout(30):
            while not (active.exists() and len(active.read_text().splitlines()) >= 2):
                if self._process.returncode is not None:
                    raise RuntimeError(f"chromium exited: {self.log()}")
                await asyncio.sleep(0.05)
        port = int(active.read_text().splitlines()[0])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with asyncio.timeout(30):
            while True:
                async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    break
                await asyncio.sleep(0.05)
        self._socket = await self._session.ws_connect(
            pages[0]["webSocketDebuggerUrl"], max_msg_size=0
        )
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")

    def log(self) -> str:
        """What the browser printed (for failure messages)."""
        path = self._profile / "chromium.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def _read(self) -> None:
        assert self._socket is not None
        async for frame in self._socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = frame.json()
            future = self._waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the DevTools connection closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result."""
        assert self._socket is not None
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._socket.send_json({"id": number, "method": method, "params": params})
        async with asyncio.timeout(30):
            reply = await future
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        async with asyncio.timeout(timeout):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.02)

    async def navigate(self, url: str) -> None:
        """Open ``url`` and wait until its document has loaded."""
        await self.send("Page.navigate", url=url)
        await self.wait_for(
            f"location.href.startsWith({url!r}) && document.readyState === 'complete'"
        )

    async def screenshot(self, path: Path) -> None:
        """Save a PNG of the page at ``path``."""
        result = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))

    async def aclose(self) -> None:
        """End the browser and remove its profile; safe to call at any point, and twice."""
        try:
            if self._socket is not None:
                await self._socket.close()
            if self._reader is not None:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
            if self._session is not None:
                await self._session.close()
        finally:
            process, self._process = self._process, None
            if process is not None and process.returncode is None:
                process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()
            shutil.rmtree(self._profile, ignore_errors=True)
