"""Reading a chat-completions answer, whole or streamed: content, reasoning, usage and what went wrong."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from ...errors import BackendError, ImageResizedError, QwenVLMError, ServerError, TokenLimitError
from ...logprobs import TokenLogprobs, merge_pieces, pieces_from_bytes
from ...models import ModelInfo
from ...results import Usage
from ...thinking import ThinkingSplitter
from ..base import GenerationRequest, GenerationResponse, StreamChunk, stream_chunks
from .request import Sizes
from .servers import ServerProfile
from .transport import Retryable, Transport, as_retryable, body_message

__all__ = ["ResponseReader", "StreamReader", "usage_of"]


class ResponseReader:
    """Turns what one server sends back into :class:`GenerationResponse` objects.

    Args:
        info: The model.
        server: The server's dialect (where it puts reasoning text).
        transport: For errors inside a 200 body (and scrubbing the key from them).
        verify_image_size: Check that the server did not shrink a Qwen2.5-VL image (see
            :meth:`resized`).
    """

    def __init__(
        self, info: ModelInfo, server: ServerProfile, transport: Transport, *, verify_image_size: bool
    ) -> None:
        self.info = info
        self.server = server
        self.transport = transport
        self.verify_image_size = verify_image_size

    def reasoning_of(self, message: Any) -> str | None:
        """The reasoning text a message (or stream delta) carries in this server's field, if any."""
        extra = getattr(message, "model_extra", None) or {}
        for field in self.server.reasoning_fields:
            value = extra.get(field) if isinstance(extra, dict) else None
            if isinstance(value, str) and value:
                return value
        return None

    def resized(self, request: GenerationRequest, usage: Usage | None, sizes: Sizes) -> str | None:
        """Why the server must have shrunk the image (its prompt is shorter than the image alone), or None.

        Only matters where coordinates are absolute pixels of the image the model saw (Qwen2.5-VL): the
        0-1000 grid of the other families does not change with the image's size.
        """
        spec = self.info.spec
        if (
            not self.verify_image_size
            or not request.needs_geometry
            or spec.coordinates != "absolute"
            or None in sizes
            or usage is None
            or usage.prompt_tokens <= 0
        ):
            return None
        image_tokens = sum((w // spec.factor) * (h // spec.factor) for w, h in sizes)  # type: ignore[misc]
        if usage.prompt_tokens >= image_tokens:
            return None
        limit = usage.prompt_tokens * spec.factor**2 // len(sizes)
        shown = " + ".join(f"{w}x{h}" for w, h in sizes)  # type: ignore[misc]
        return (
            f"the server resized the image: it counted {usage.prompt_tokens} prompt tokens, fewer than the "
            f"{image_tokens} that the {shown} image sent takes alone, so {self.info.id}'s pixel "
            f"coordinates cannot be converted. Pass max_pixels= at most {limit} (the server's own pixel "
            "limit, e.g. its processor's max_pixels) so the server does not resize again"
        )

    def response(
        self,
        content: str | None,
        thinking: str | None,
        sizes: Sizes,
        usage: Usage | None,
        finish: str | None,
        request: GenerationRequest | None,
        logprobs: TokenLogprobs | None = None,
    ) -> GenerationResponse:
        """The response for a whole answer, streamed or not.

        No content at the token limit is a TokenLimitError; Qwen2.5-VL boxes behind a server that shrank
        the image are an ImageResizedError.
        """
        error: QwenVLMError | None = None
        if content is None and finish == "length":
            spent = f" ({usage.completion_tokens} tokens)" if usage else ""
            reason = " Reasoning may have used it: pass enable_thinking=False." if thinking else ""
            error = TokenLimitError(
                f"the token budget (max_tokens) ran out before any answer{spent}; raise max_tokens.{reason}"
            )
        else:
            resized = self.resized(request, usage, sizes) if request is not None else None
            error = ImageResizedError(resized) if resized else None
        return GenerationResponse(
            text=content or "",
            thinking=thinking,
            input_size=sizes[0],
            input_sizes=sizes if len(sizes) > 1 and None not in sizes else None,  # type: ignore[arg-type]
            usage=usage,
            finish_reason=finish,
            error=error,
            logprobs=logprobs if logprobs is not None and logprobs.text == (content or "") else None,
        )

    def completion(
        self, completion: Any, sizes: Sizes, request: GenerationRequest | None = None
    ) -> GenerationResponse:
        """The response for a whole (non-streamed) completion.

        Raises:
            Retryable: For an error inside the body, or no choices (both transient).
        """
        error = self.transport.error_in_body(getattr(completion, "model_extra", None) or {})
        if error is not None:
            raise as_retryable(error)
        choices = getattr(completion, "choices", None)
        if not choices:
            raise Retryable(ServerError("the server returned no choices"))
        choice = choices[0]
        message = getattr(choice, "message", None)
        return self.response(
            with_tool_calls(
                _text_of(getattr(message, "content", None)), getattr(message, "tool_calls", None)
            ),
            self.reasoning_of(message),
            sizes,
            usage_of(getattr(completion, "usage", None)),
            getattr(choice, "finish_reason", None),
            request,
            token_logprobs(_logprob_items(choice)),
        )


class StreamReader:
    """Turns chat-completion chunks into :class:`StreamChunk` objects and, at the end, the response."""

    def __init__(self, reader: ResponseReader, request: GenerationRequest, sizes: Sizes) -> None:
        self.reader = reader
        self.request = request
        self.sizes = sizes
        self.splitter = ThinkingSplitter()
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.tokens: list[Any] = []
        self.tool_calls: dict[int, list[str]] = {}  # index -> [name, arguments so far]

    def feed(self, chunk: Any) -> list[StreamChunk]:
        """The stream chunks one server chunk holds.

        Raises:
            BackendError: For an error event inside the stream.
        """
        error = self.reader.transport.error_in_body(getattr(chunk, "model_extra", None) or {}, "mid-stream: ")
        if error is not None:
            raise error
        if getattr(chunk, "usage", None) is not None:
            self.usage = usage_of(chunk.usage)
        out: list[StreamChunk] = []
        for choice in getattr(chunk, "choices", None) or []:
            self.tokens.extend(_logprob_items(choice))
            delta = getattr(choice, "delta", None)
            reasoning = self.reader.reasoning_of(delta)
            if reasoning:
                self.reasoning.append(reasoning)
                out.append(StreamChunk(thinking=reasoning))
            content = getattr(delta, "content", None)
            if isinstance(content, str) and content:
                self.content.append(content)
                out.extend(stream_chunks(self.splitter.feed(content)))
            for call in getattr(delta, "tool_calls", None) or []:  # a server's tool parser took them out
                self._tool_delta(call)
            if getattr(choice, "finish_reason", None):
                self.finish_reason = choice.finish_reason
                if choice.finish_reason == "error":
                    raise ServerError("the server reported an error mid-stream (finish_reason: error)")
        return out

    def _tool_delta(self, call: Any) -> None:
        index = getattr(call, "index", None)
        slot = self.tool_calls.setdefault(index if isinstance(index, int) else len(self.tool_calls), ["", ""])
        function = getattr(call, "function", None)
        name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
        slot[0] += name if isinstance(name, str) else ""
        slot[1] += arguments if isinstance(arguments, str) else ""

    def broken(self, exc: Exception) -> BackendError:
        """The typed error for a stream that broke off with ``exc``."""
        transport = self.reader.transport
        openai = transport.openai
        if isinstance(exc, openai.APIStatusError):
            return transport.map_exception(exc)
        if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
            # The SDK raises this for an error event inside the stream (OpenRouter's mid-stream errors).
            message = body_message(getattr(exc, "body", None), str(exc))
            return ServerError(transport.scrub(f"the server reported an error mid-stream: {message}"))
        return ServerError(transport.scrub(f"the stream broke off: {type(exc).__name__}: {exc}"))

    def finish(self) -> list[StreamChunk]:
        """The last chunks: the rest of the text, then the whole response.

        Raises:
            ServerError: If the stream ended without a ``finish_reason`` (it dropped mid-answer).
        """
        if self.finish_reason is None:
            # Every server ends a stream with a finish_reason; a connection that closes before it has
            # dropped mid-answer (the SDK sees a clean end of the event stream).
            raise ServerError("the stream broke off before the answer ended (no finish_reason was sent)")
        calls = [
            {"function": {"name": name, "arguments": arguments}}
            for _, (name, arguments) in sorted(self.tool_calls.items())
        ]
        text = "".join(self.content) or None
        full = with_tool_calls(text, calls)
        tail = stream_chunks(self.splitter.feed(full[len(text or "") :])) if full and full != text else []
        response = self.reader.response(
            full,
            "".join(self.reasoning) or None,
            self.sizes,
            self.usage,
            self.finish_reason,
            self.request,
            token_logprobs(self.tokens),
        )
        return [*tail, *stream_chunks(self.splitter.close()), StreamChunk(response=response)]


def with_tool_calls(text: str | None, calls: Any) -> str | None:
    """The answer with the tool calls a server's tool parser took out of it put back, as Qwen writes them.

    vLLM and SGLang (``--tool-call-parser hermes``) and ``transformers serve`` move ``<tool_call>`` blocks
    from ``content`` into ``tool_calls``; the SDK's readers (``act``, ``ground``) read the answer as the
    model wrote it, so each call is appended back as ``<tool_call>{"name": ..., "arguments": ...}``
    ``</tool_call>``.
    """
    blocks = []
    for call in calls if isinstance(calls, (list, tuple)) else ():
        function = call.get("function") if isinstance(call, dict) else getattr(call, "function", None)
        if isinstance(function, dict):
            name, arguments = function.get("name"), function.get("arguments")
        else:
            name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
        if isinstance(arguments, str):
            with contextlib.suppress(json.JSONDecodeError):  # else kept as written: the reader says why
                arguments = json.loads(arguments)
        call_json = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        blocks.append(f"<tool_call>\n{call_json}\n</tool_call>")
    if not blocks:
        return text
    return "\n".join([*([text] if text else []), *blocks])


def _text_of(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") if isinstance(p, dict) else getattr(p, "text", None) for p in content]
        return "".join(p for p in parts if isinstance(p, str))
    return str(content)


def _logprob_items(choice: Any) -> list[Any]:
    """The ``logprobs.content`` entries of a choice (or of a stream chunk's choice), if any."""
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    return list(content) if isinstance(content, list) else []


def token_logprobs(items: list[Any]) -> TokenLogprobs | None:
    """Each token's text and log-probability from the server's ``logprobs.content`` (``None``: none).

    A token's ``bytes``, when given, rebuild characters split across tokens; otherwise its ``token``
    text is used.
    """
    if not items:
        return None
    try:
        values = [float(item.logprob) for item in items]
        raw: list[Any] = [getattr(item, "bytes", None) for item in items]
        if all(isinstance(b, list) for b in raw):
            return pieces_from_bytes([(bytes(b), v) for b, v in zip(raw, values, strict=True)])
        return merge_pieces((str(item.token), v) for item, v in zip(items, values, strict=True))
    except (AttributeError, TypeError, ValueError):  # a malformed entry: no confidences, not a failure
        return None


def usage_of(usage: Any) -> Usage | None:
    """Token counts (and OpenRouter's ``cost``) from a completion's ``usage``."""
    if usage is None:
        return None
    details = getattr(usage, "completion_tokens_details", None)
    extra = getattr(usage, "model_extra", None) or {}
    cost = extra.get("cost") if isinstance(extra, dict) else None
    return Usage(
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        total_tokens=int(getattr(usage, "total_tokens", 0) or 0),
        reasoning_tokens=getattr(details, "reasoning_tokens", None) if details is not None else None,
        cost=float(cost) if isinstance(cost, (int, float)) else None,
    )
