"""A stand-in for hosted-model APIs on 127.0.0.1: OpenAI chat completions and Responses,
Anthropic Messages and Mistral chat, each as JSON or as a server-sent-event stream.

Each answer comes after `delay` seconds and reports `tokens` output tokens in its usage
(streams send that many content chunks), echoing the requested model unless `model` is
set. Run it in a thread: `with LLMServer(delay=0.05, tokens=40) as server: server.url`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _sse(event: str | None, data: dict[str, Any] | str) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {body}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: LLMHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        settings = self.server.settings
        self.server.requests.append((self.path, request))
        time.sleep(settings["delay"])
        model = settings["model"] or request.get("model", "unknown")
        tokens = settings["tokens"]
        path = self.path.split("?")[0].rstrip("/")
        stream = bool(request.get("stream"))
        if path.endswith("/chat/completions"):
            if stream:
                self._stream(self._chat_events(model, tokens, request))
            else:
                self._json(self._chat(model, tokens))
        elif path.endswith("/responses"):
            if stream:
                self._stream(self._responses_events(model, tokens))
            else:
                self._json(self._response(model, tokens))
        elif path.endswith("/messages"):
            if stream:
                self._stream(self._messages_events(model, tokens))
            else:
                self._json(self._message(model, tokens))
        else:
            self.send_error(404)

    # -- framing -----------------------------------------------------------------------

    def _json(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, events: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()
        self.close_connection = True

    # -- OpenAI chat completions (also Mistral's chat) ---------------------------------

    @staticmethod
    def _usage(tokens: int) -> dict[str, int]:
        return {"prompt_tokens": 12, "completion_tokens": tokens, "total_tokens": 12 + tokens}

    def _chat(self, model: str, tokens: int) -> dict[str, Any]:
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "word " * tokens},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(tokens),
        }

    def _chat_events(self, model: str, tokens: int, request: dict[str, Any]) -> list[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-standin",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events = [_sse(None, chunk({"role": "assistant", "content": ""}, None))]
        events += [_sse(None, chunk({"content": "word "}, None)) for _ in range(tokens)]
        last = chunk({}, "stop")
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append(_sse(None, last))
            last = {**chunk({}, None), "choices": [], "usage": self._usage(tokens)}
        elif "mistral" in self.headers.get("user-agent", "").lower():
            last["usage"] = self._usage(tokens)
        events.append(_sse(None, last))
        events.append(_sse(None, "[DONE]"))
        return events

    # -- OpenAI Responses --------------------------------------------------------------

    def _response(self, model: str, tokens: int, status: str = "completed") -> dict[str, Any]:
        return {
            "id": "resp_standin",
            "object": "response",
            "created_at": 1_700_000_000,
            "status": status,
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_standin",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "word " * tokens, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 12,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 12 + tokens,
            },
        }

    def _responses_events(self, model: str, tokens: int) -> list[bytes]:
        created = {**self._response(model, 0, "in_progress"), "output": [], "usage": None}
        item = {"type": "message", "id": "msg_standin", "status": "in_progress", "role": "assistant", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        events = [
            _sse("response.created", {"type": "response.created", "sequence_number": 0, "response": created}),
            _sse(
                "response.output_item.added",
                {"type": "response.output_item.added", "sequence_number": 0, "output_index": 0, "item": item},
            ),
            _sse(
                "response.content_part.added",
                {
                    "type": "response.content_part.added",
                    "sequence_number": 0,
                    "item_id": "msg_standin",
                    "output_index": 0,
                    "content_index": 0,
                    "part": part,
                },
            ),
        ]
        for n in range(tokens):
            events.append(
                _sse(
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "sequence_number": n + 1,
                        "item_id": "msg_standin",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": "word ",
                        "logprobs": [],
                    },
                )
            )
        done = {"type": "response.completed", "sequence_number": tokens + 1, "response": self._response(model, tokens)}
        events.append(_sse("response.completed", done))
        return events

    # -- Anthropic Messages ------------------------------------------------------------

    def _message(self, model: str, tokens: int) -> dict[str, Any]:
        return {
            "id": "msg_standin",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "word " * tokens}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": tokens},
        }

    def _messages_events(self, model: str, tokens: int) -> list[bytes]:
        start = {**self._message(model, 0), "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": 12, "output_tokens": 1}
        events = [
            _sse("message_start", {"type": "message_start", "message": start}),
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
        ]
        for _ in range(tokens):
            events.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "word "}},
                )
            )
        events += [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": tokens},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        return events


class LLMHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.settings = settings
        self.requests: list[tuple[str, dict[str, Any]]] = []


class LLMServer:
    """The stand-in, served from a thread while the `with` block runs."""

    def __init__(self, delay: float = 0.05, tokens: int = 40, model: str | None = None) -> None:
        self.httpd = LLMHTTPServer({"delay": delay, "tokens": tokens, "model": model})
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        return self.httpd.requests

    def __enter__(self) -> LLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
