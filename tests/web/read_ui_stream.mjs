// Reads a streamkit relay with the real AI SDK: DefaultChatTransport (what useChat uses) sends
// the chat request and validates every part against the SDK's schema; readUIMessageStream folds
// the parts into UI messages. Prints the final UI message as JSON.
//
// Usage: node read_ui_stream.mjs URL PROMPT
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [url, prompt] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api: url });
const stream = await transport.sendMessages({
  chatId: "chat-1",
  messages: [{ id: "user-1", role: "user", parts: [{ type: "text", text: prompt }] }],
  trigger: "submit-message",
  messageId: undefined,
  abortSignal: AbortSignal.timeout(30000),
});
let last = null;
for await (const message of readUIMessageStream({ stream, terminateOnError: true })) {
  last = message;
}
process.stdout.write(JSON.stringify(last));
