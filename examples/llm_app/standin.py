"""A local stand-in for OpenAI's chat completions API, so the suite runs offline: it
answers on 127.0.0.1 after a realistic delay (time to first token plus ~60 tokens/s)
with a realistic `usage`, as JSON or as a server-sent-event stream."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FIRST_TOKEN_S = 0.25
TOKENS_PER_S = 60.0


def reply_for(prompt: str) -> str:
    """A plausible answer: the first note of the prompt, reworded."""
    for line in prompt.splitlines():
        if line.startswith("- "):
            return "According to our notes: " + line[2:]
    return "I could not find that in our notes."


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        prompt = request["messages"][-1]["content"]
        words = reply_for(prompt).split(" ")
        tokens = round(len(words) * 1.3)  # about 1.3 tokens per English word
        usage = {"prompt_tokens": round(len(prompt.split()) * 1.3), "completion_tokens": tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + tokens
        base = {"id": "chatcmpl-local", "created": int(time.time()), "model": request["model"]}
        time.sleep(FIRST_TOKEN_S)
        if not request.get("stream"):
            time.sleep(tokens / TOKENS_PER_S)
            message = {"role": "assistant", "content": " ".join(words)}
            body = {**base, "object": "chat.completion", "usage": usage}
            body["choices"] = [{"index": 0, "message": message, "finish_reason": "stop"}]
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        chunk = {**base, "object": "chat.completion.chunk"}
        for n, word in enumerate(words):
            delta = {"content": (" " if n else "") + word}
            self._event({**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            time.sleep(1.3 / TOKENS_PER_S)
        self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            self._event({**chunk, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()


class StandIn:
    """`with StandIn() as server: server.url` serves the API from a thread."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
