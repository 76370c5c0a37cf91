"""A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol, with scriptable faults.

The openai SDK talks to it over TCP exactly as it would to OpenRouter or vLLM; nothing of our client code
is mocked. Each test gives the server a ``script``: a function of (request number, request body) that
returns a :class:`Reply`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server sends back for one request."""

    status: int = 200
    body: Any = None  # a dict (sent as JSON) or a str (sent raw, e.g. malformed JSON)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Server-sent events instead of a body: each dict is one `data:` event, then `data: [DONE]`.
    events: list[Any] | None = None
    event_delay: float = 0.0
    drop_after: int | None = None  # close the connection after this many events, without [DONE]


def chunk(
    content: str | None = None,
    *,
    reasoning: str | None = None,
    reasoning_field: str = "reasoning",
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
    error: dict[str, Any] | None = None,
    logprobs: list[tuple[str, float]] | None = None,
) -> dict[str, Any]:
    """One chat.completion.chunk event (``logprobs``: its tokens and their log-probabilities)."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta[reasoning_field] = reasoning
    event: dict[str, Any] = {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "qwen/test",
        "choices": []
        if usage is not None and content is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        event["usage"] = usage
    if error is not None:
        event["error"] = error
    if logprobs is not None and event["choices"]:
        event["choices"][0]["logprobs"] = token_logprobs(logprobs)
    return event


def token_logprobs(tokens: list[tuple[str, float]]) -> dict[str, Any]:
    """A choice's ``logprobs`` as vLLM and OpenAI send it: each token's text, bytes and log-probability."""
    return {
        "content": [
            {"token": text, "logprob": logprob, "bytes": list(text.encode()), "top_logprobs": []}
            for text, logprob in tokens
        ]
    }


def completion(
    content: str | None = "ok",
    *,
    finish_reason: str = "stop",
    reasoning: str | None = None,
    reasoning_field: str = "reasoning",
    cost: float | None = None,
    model: str = "qwen/test",
    logprobs: list[tuple[str, float]] | None = None,
) -> dict[str, Any]:
    """A chat-completions response body (``logprobs``: the answer's tokens and their log-probabilities)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message[reasoning_field] = reasoning
    usage: dict[str, Any] = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    if cost is not None:
        usage["cost"] = cost
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish_reason}
    if logprobs is not None:
        choice["logprobs"] = token_logprobs(logprobs)
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


Script = Callable[[int, dict[str, Any]], Reply]


def _count_image_tokens(body: dict[str, Any], reply: Reply) -> None:
    """Set ``usage.prompt_tokens`` to 20 + the image's tokens at 28 px per token, as a real server would."""
    if not isinstance(reply.body, dict) or not isinstance(reply.body.get("usage"), dict):
        return
    try:  # the first image of the conversation (a system message may come first)
        url = next(
            part["image_url"]["url"]
            for message in body["messages"]
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if isinstance(part, dict) and part.get("type") == "image_url"
        )
    except (KeyError, IndexError, TypeError, StopIteration):
        return
    if not isinstance(url, str) or not url.startswith("data:"):
        return
    import base64
    import io

    from PIL import Image

    width, height = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size
    tokens = -(-width // 28) * -(-height // 28)
    usage = reply.body["usage"]
    usage["prompt_tokens"] = 20 + tokens
    usage["total_tokens"] = usage["prompt_tokens"] + usage.get("completion_tokens", 0)


class ChatServer:
    """The running server: its URL, the requests it received, and the script answering them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: Script = lambda n, body: Reply(body=completion("ok"))
        self.files: dict[str, bytes] = {}  # served on GET, e.g. images for URL inputs
        # Like a real server that does not resize: prompt_tokens counts the image sent (28 px patches).
        self.count_image_tokens = True
        self.streams_completed = 0
        self.streams_closed_early = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                data = server.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with server._lock:
                    number = len(server.requests)
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = server.script(number, body)
                if server.count_image_tokens:
                    _count_image_tokens(body, reply)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.events is not None:
                    self._stream(reply)
                    return
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body or {})
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def _stream(self, reply: Reply) -> None:
                assert reply.events is not None
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for k, event in enumerate(reply.events):
                        if reply.drop_after is not None and k >= reply.drop_after:
                            self.wfile.flush()
                            self.connection.shutdown(2)  # the connection drops mid-stream
                            return
                        data = event if isinstance(event, str) else json.dumps(event)
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                        if reply.event_delay:
                            time.sleep(reply.event_delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    with server._lock:
                        server.streams_completed += 1
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.streams_closed_early += 1  # the client closed the stream
                finally:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog of 5 drops concurrent connects (1 s SYN retry)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.root = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.url = f"{self.root}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def chat_server() -> Iterator[ChatServer]:
    """Run a :class:`ChatServer` for the duration of a ``with`` block."""
    server = ChatServer().start()
    try:
        yield server
    finally:
        server.stop()
