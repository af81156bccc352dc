// streamkit chat page: reads POST /api/chat, the AI SDK's UI message stream (v1), with fetch.
//
// Plain JavaScript, no build step and no library: the page shows the protocol can be read in a
// few lines, and it follows the streaming guide's advice for pages: text is buffered into DOM
// updates (10 chunks or 100 ms, whichever comes first) instead of one redraw per chunk; a typing
// indicator shows while the answer streams; a stop button aborts the request (which closes the
// upstream request on the server); a silent stream times out; retries, done on the server with
// backoff, show as notices.
"use strict";

const FLUSH_EVERY_CHUNKS = 10;
const FLUSH_AFTER_MS = 100;
const IDLE_TIMEOUT_MS = 30000;

const messagesEl = document.getElementById("messages");
const typingEl = document.getElementById("typing");
const statsEl = document.getElementById("stats");
const form = document.getElementById("composer");
const promptEl = document.getElementById("prompt");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");

const chatId = newId();
const conversation = []; // the conversation as UI messages, as useChat keeps it
let controller = null;

function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Collects deltas and writes them to one text node in batches: one DOM update per flush.
class BufferedText {
  constructor(node, onFlush) {
    this.node = node;
    this.onFlush = onFlush;
    this.pending = "";
    this.chunks = 0;
    this.timer = null;
  }

  push(delta) {
    this.pending += delta;
    this.chunks += 1;
    if (this.chunks >= FLUSH_EVERY_CHUNKS) {
      this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
    }
  }

  flush() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending) {
      this.node.appendData(this.pending);
      if (this.onFlush) this.onFlush();
    }
    this.pending = "";
    this.chunks = 0;
  }

  clear() {
    this.flush();
    this.node.data = "";
  }
}

function addMessage(role, text) {
  const message = element("div", `message ${role}`);
  message.appendChild(element("span", "role", role === "user" ? "You" : "Assistant"));
  if (text !== undefined) message.appendChild(document.createTextNode(text));
  messagesEl.appendChild(message);
  return message;
}

function assistantView() {
  const message = addMessage("assistant");
  const notices = message.appendChild(element("div", "notices"));
  const reasoning = message.appendChild(element("div", "reasoning"));
  reasoning.hidden = true;
  const text = message.appendChild(element("div", "text"));
  const tools = message.appendChild(element("div", "tools"));
  const scroll = () => message.scrollIntoView({ block: "end" });
  return {
    message,
    notice(text, kind) {
      notices.appendChild(element("div", `notice ${kind || ""}`.trim(), text));
    },
    reasoning: new BufferedText(reasoning.appendChild(document.createTextNode("")), () => {
      reasoning.hidden = false;
    }),
    text: new BufferedText(text.appendChild(document.createTextNode("")), scroll),
    tool(name, input, failed) {
      const label = failed
        ? `tool call ${name}: the arguments are not JSON`
        : `tool call ${name}(${JSON.stringify(input)})`;
      tools.appendChild(element("div", "tool", label));
    },
  };
}

function setStreaming(on) {
  document.body.dataset.state = on ? "streaming" : "idle";
  typingEl.hidden = !on;
  stopButton.disabled = !on;
  sendButton.disabled = on;
}

// Yields the data of each server-sent event in a fetch body (WHATWG event-stream framing).
async function* sseData(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5));
        if (data.length) yield data.join("\n");
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function showStats(started, firstToken, ended, tokens) {
  if (firstToken === null) {
    statsEl.textContent = "";
    return;
  }
  const ttft = Math.round(firstToken - started);
  const seconds = (ended - firstToken) / 1000;
  const rate = seconds > 0 ? (tokens / seconds).toFixed(1) : "–";
  statsEl.textContent = `TTFT ${ttft} ms · ${rate} tok/s · ${tokens} tokens`;
}

async function send(prompt) {
  conversation.push({ id: newId(), role: "user", parts: [{ type: "text", text: prompt }] });
  addMessage("user", prompt);
  const view = assistantView();
  const request = new AbortController();
  controller = request;
  setStreaming(true);
  statsEl.textContent = "";

  const started = performance.now();
  let firstToken = null;
  let chunks = 0;
  let usage = null;
  let answer = "";
  let idle = null;
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => request.abort("timeout"), IDLE_TIMEOUT_MS);
  };

  try {
    touch();
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: chatId, messages: conversation, trigger: "submit-message" }),
      signal: request.signal,
    });
    if (!response.ok) throw new Error(`the server answered HTTP ${response.status}`);
    for await (const data of sseData(response.body)) {
      touch();
      if (data === "[DONE]") break;
      const part = JSON.parse(data);
      switch (part.type) {
        case "text-delta":
          if (firstToken === null) firstToken = performance.now();
          chunks += 1;
          answer += part.delta;
          view.text.push(part.delta);
          break;
        case "reasoning-delta":
          view.reasoning.push(part.delta);
          break;
        case "tool-input-available":
          view.text.flush();
          view.tool(part.toolName, part.input, false);
          break;
        case "tool-input-error":
          view.tool(part.toolName, part.input, true);
          break;
        case "data-retry":
          view.notice(`Connection trouble (${part.data.cause}): retrying, attempt ${part.data.attempt}…`);
          break;
        case "data-rewind":
          view.text.clear();
          answer = "";
          view.notice("The answer restarted.");
          break;
        case "error":
          view.notice(`The answer failed: ${part.errorText}`, "error");
          break;
        case "finish":
          usage = part.messageMetadata && part.messageMetadata.usage;
          break;
      }
    }
  } catch (error) {
    if (request.signal.aborted && request.signal.reason === "timeout") {
      view.notice("No data for 30 s: the answer timed out.", "error");
    } else if (request.signal.aborted) {
      view.message.appendChild(element("div", "stopped", "(stopped)"));
    } else {
      view.notice(`The answer failed: ${error.message || error}`, "error");
    }
  } finally {
    clearTimeout(idle);
    view.reasoning.flush();
    view.text.flush();
    controller = null;
    setStreaming(false);
    conversation.push({ id: newId(), role: "assistant", parts: [{ type: "text", text: answer }] });
    const tokens = usage && usage.outputTokens ? usage.outputTokens : chunks;
    showStats(started, firstToken, performance.now(), tokens);
    promptEl.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const prompt = promptEl.value.trim();
  if (!prompt || controller) return;
  promptEl.value = "";
  send(prompt);
});

stopButton.addEventListener("click", () => {
  if (controller) controller.abort();
});
