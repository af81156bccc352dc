"""The chat page in a real browser (headless Chromium): a prompt is typed, the answer arrives in
buffered DOM updates under a typing indicator, the stop button closes the upstream request.

The screenshot is saved to ``$STREAMKIT_TEST_OUTPUT`` (default ``test-output/``) as
``web-chat.png``; the README's picture is a copy of it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from streamkit.server import answer_for, tokens
from streamkit.web import WebChat
from tests.web._chromium import Chromium, find_chromium

ROOT = Path(__file__).resolve().parent.parent.parent
OUTPUT = Path(os.environ.get("STREAMKIT_TEST_OUTPUT", ROOT / "test-output"))

# Counts, from the page's own DOM, how often answer text changes and when the indicator shows.
WATCH = """
(() => {
  window.__updates = [];
  window.__typing = [];
  const typing = document.getElementById('typing');
  new MutationObserver((records) => {
    for (const record of records) {
      const parent = record.target.parentElement;
      if (record.type === 'characterData' && parent && parent.closest('.assistant .text')) {
        const answers = document.querySelectorAll('.assistant');
        window.__updates.push(answers.length);
      }
    }
  }).observe(document.getElementById('messages'), {subtree: true, characterData: true});
  new MutationObserver(() => window.__typing.push(!typing.hidden))
    .observe(typing, {attributes: true, attributeFilter: ['hidden']});
  return true;
})()
"""
ANSWER_TEXT = "[...document.querySelectorAll('.assistant .text')].map((e) => e.textContent)"


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Chromium]:
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "Chromium is not installed: the browser test needs Debian's `chromium` "
            "(apt-get install chromium; .ci/run installs it)"
        )
    async with Chromium(executable) as chromium:
        yield chromium


async def ask(browser: Chromium, prompt: str) -> None:
    """Type ``prompt`` into the page's input and press Send, as a person would."""
    await browser.evaluate("document.getElementById('prompt').focus(), true")
    await browser.send("Input.insertText", text=prompt)
    await browser.evaluate("document.getElementById('send').click(), true")


async def test_the_chat_page_streams_buffers_shows_typing_and_stops(browser: Chromium) -> None:
    first, second = "Tell me a story", "Tell me about the lighthouse"
    async with WebChat(rate=50) as chat:
        upstream = chat.upstream
        assert upstream is not None
        await browser.navigate(chat.url + "/")
        await browser.evaluate(WATCH)

        # A whole answer: buffered DOM updates, the indicator on and then off, a stats line.
        await ask(browser, first)
        await browser.wait_for("document.body.dataset.state === 'streaming'", timeout=10)
        await browser.wait_for("document.body.dataset.state === 'idle'", timeout=60)
        expected = answer_for([{"role": "user", "content": first}])
        assert (await browser.evaluate(ANSWER_TEXT)) == [expected]
        updates = len(await browser.evaluate("window.__updates"))
        chunks = len(tokens(expected))  # the upstream sends one text delta per token
        assert 1 < updates <= chunks // 3, (updates, chunks)
        assert await browser.evaluate("window.__typing") == [True, False]
        assert "TTFT" in await browser.evaluate("document.getElementById('stats').textContent")

        # Stop mid-answer: the upstream request closes.
        await ask(browser, second)
        await browser.wait_for("window.__updates.some((answers) => answers === 2)", timeout=30)
        await browser.evaluate("document.getElementById('stop').click(), true")
        await upstream.wait_idle(timeout=1.0)  # raises if the upstream request stayed open
        await browser.wait_for("document.body.dataset.state === 'idle'", timeout=10)

        shown = (await browser.evaluate(ANSWER_TEXT))[1]
        full = answer_for(
            [
                {"role": "user", "content": first},
                {"role": "assistant", "content": expected},
                {"role": "user", "content": second},
            ]
        )
        assert shown and full.startswith(shown) and len(shown) < len(full)
        assert await browser.evaluate("!!document.querySelector('.assistant .stopped')")
        assert await browser.evaluate("window.__typing") == [True, False, True, False]
        await browser.screenshot(OUTPUT / "web-chat.png")


async def test_the_chat_page_shows_retries_and_tool_calls(browser: Chromium) -> None:
    fault = "disconnect-after=4; first-attempts=1"  # each answer's first attempt breaks
    async with WebChat(rate=50, format="anthropic", fault=fault, tool_calls=1) as chat:
        await browser.navigate(chat.url + "/")

        await ask(browser, "What is the weather in Paris?")
        await browser.wait_for("document.body.dataset.state === 'streaming'", timeout=10)
        await browser.wait_for("document.body.dataset.state === 'idle'", timeout=60)

        notices = await browser.evaluate(
            "[...document.querySelectorAll('.assistant .notice')].map((e) => e.textContent)"
        )
        tools = await browser.evaluate(
            "[...document.querySelectorAll('.assistant .tool')].map((e) => e.textContent)"
        )
        assert len(notices) == 1 and "retrying, attempt 2" in notices[0]
        assert len(tools) == 1 and tools[0].startswith("tool call get_weather(")
        assert (await browser.evaluate(ANSWER_TEXT)) == ["Let me look that up."]
        await browser.screenshot(OUTPUT / "web-chat-tools.png")
