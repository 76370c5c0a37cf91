"""The remote backend: OpenRouter and any OpenAI-compatible server (vLLM, SGLang, Ollama, DashScope).

Requests go through the official ``openai`` SDK (sync ``OpenAI`` for :meth:`generate`, ``AsyncOpenAI`` for
:meth:`agenerate`). There is exactly one retry layer, tenacity, with the SDK's own retries switched off:
exponential backoff with jitter that honours ``Retry-After``, on 408/429/5xx, connection errors, timeouts,
malformed bodies and errors inside an HTTP 200 body; never on 400/401/402/403/404.

Images are sent as JPEG data URLs already resized to a smart-resize fixed point of the model's family, so
the server's own resize is the identity and the size the model saw is known (it is reported as
``input_size`` and used to convert Qwen2.5-VL's absolute coordinates). http(s) URLs are passed through
untouched when no coordinates are expected.
"""

from __future__ import annotations

import base64
import io
import logging
import mimetypes
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image

from .. import prompts
from ..errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    ConfigurationError,
    ImageResizedError,
    InsufficientCreditsError,
    MissingDependencyError,
    ModelNotFoundError,
    QwenVLMError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TokenLimitError,
)
from ..geometry import smart_resize
from ..models import Family, resolve_model
from ..options import check_bool, check_choice, check_int, check_mapping, check_number, check_str, check_url
from ..results import Usage
from ..thinking import ThinkingSplitter
from .base import GenerationRequest, GenerationResponse, StreamChunk, stream_chunks
from .servers import SERVERS, ServerName, ServerProfile, guess_server

if TYPE_CHECKING:
    import openai

    from ..image_refs import ImageRef

__all__ = ["OPENROUTER_BASE_URL", "OpenAICompatibleBackend"]

#: Largest video file sent inline as a ``video_url`` data URL; a larger one goes as sampled frames.
MAX_VIDEO_BYTES = 32 * 1024 * 1024

#: The size each image of a request was sent at (``None`` for a URL passed through unresized).
Sizes = tuple[tuple[int, int] | None, ...]

logger = logging.getLogger("qwen_vlm")

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
#: Largest base64 payload sent for one image (Alibaba-served models reject data URLs over ~10 MB).
MAX_PAYLOAD_BYTES = int(9.5 * 1024 * 1024)
#: How many encoded images are kept for reuse.
_ENCODE_CACHE_SIZE = 8
#: Default upper bound on pixels sent, in tokens of the family's patch grid (1280 tokens ≈ 1 MP).
DEFAULT_MAX_TOKENS_PER_IMAGE = 1280
_PRIVACY: dict[str, dict[str, Any]] = {
    "allow": {"data_collection": "allow"},
    "deny": {"data_collection": "deny"},
    "zdr": {"data_collection": "deny", "zdr": True},
}
_TRANSIENT = (RateLimitError, ServerError, RequestTimeoutError)


class _Retryable(Exception):
    """Internal: wraps a transient error so tenacity retries it."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(str(error))
        self.error = error


def _status_error(status: int, message: str, retry_after: float | None = None) -> BackendError:
    if status == 401:
        return AuthenticationError(f"authentication failed (401): {message}", status)
    if status == 403:
        if any(word in message.lower() for word in ("moderation", "flagged")):
            return BadRequestError(f"the input was flagged by moderation (403): {message}", status)
        return AuthenticationError(f"access denied (403): {message}", status)
    if status == 402:
        return InsufficientCreditsError(f"insufficient credits (402): {message}", status)
    if status == 404:
        return ModelNotFoundError(f"not found (404): {message}", status)
    if status == 408:
        return RequestTimeoutError(f"the server timed out (408): {message}", status)
    if status == 409:
        # A conflict is transient (the openai SDK's own policy retries 408/409/429/5xx too).
        return ServerError(f"the server reported a conflict (409), retried: {message}", status)
    if status == 429:
        return RateLimitError(f"rate limited (429): {message}", status, retry_after)
    if status >= 500:
        return ServerError(f"server error ({status}): {message}", status)
    return BadRequestError(f"request rejected ({status}): {message}", status)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            import time

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


#: Longest server message quoted in an error (a full HTML error page is not useful).
MAX_SERVER_MESSAGE = 500


def _body_message(body: Any, fallback: str) -> str:
    """What the server said, trimmed.

    Read from ``detail`` (FastAPI servers: a string or a list of field errors), ``error.message``,
    ``error``, ``message``, or else the body itself.
    """
    message: str | None = None
    if isinstance(body, dict):
        detail = body.get("detail")
        error = body.get("error")
        if isinstance(detail, str) and detail.strip():
            message = detail
        elif isinstance(detail, list) and detail:
            parts = []
            for item in detail[:5]:
                if isinstance(item, dict):
                    where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                    parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item)))
                else:
                    parts.append(str(item))
            message = "; ".join(parts)
        elif isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
        elif isinstance(error, str) and error.strip():
            message = error
        elif isinstance(body.get("message"), str) and body["message"].strip():
            message = body["message"]
    elif isinstance(body, str) and body.strip():
        message = body
    message = " ".join((message or fallback).split())
    return message if len(message) <= MAX_SERVER_MESSAGE else message[: MAX_SERVER_MESSAGE - 1] + "…"


# Words in a server's rejection that mean "I do not support structured output / this schema".
_SCHEMA_WORDS = ("response_format", "json_schema", "structured output", "guided", "grammar", "schema")


def _is_schema_rejection(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _SCHEMA_WORDS)


class OpenAICompatibleBackend:
    """Qwen models behind an OpenAI-compatible chat-completions endpoint.

    Args:
        model: The model id as the server knows it (an OpenRouter slug, or the served model name).
        provider: ``"openrouter"`` or ``"openai"`` (any compatible server; ``base_url`` required).
        api_key: The key; default ``OPENROUTER_API_KEY`` (openrouter) or ``OPENAI_API_KEY`` (openai, where
            servers such as vLLM need none). Never shown in reprs, logs or errors.
        base_url: The endpoint (default: OpenRouter's).
        privacy: OpenRouter data policy: ``"deny"`` (default), ``"allow"`` or ``"zdr"``.
        max_concurrent_requests: Requests in flight at once (default 8).
        timeout: Seconds per request attempt (default 60).
        max_retries: Retries of transient failures (default 3).
        family: Override the model family (needed for served names that do not say it).
        server: ``"openrouter"``, ``"vllm"``, ``"sglang"``, ``"ollama"``, ``"dashscope"`` or ``"generic"``
            (default: guessed from ``base_url``).
        max_pixels: Upper bound on pixels sent per image (default 1280 tokens' worth for the family).
        min_pixels: Lower bound (default: the family's).
        app_name: Sent as ``X-Title`` (OpenRouter app attribution).
        app_url: Sent as ``HTTP-Referer``.
        provider_options: Extra OpenRouter ``provider`` routing fields (``order``, ``allow_fallbacks``...).
        extra_body: Extra fields merged into every request body.
        retry_base_delay: First backoff delay in seconds (default 0.5).
        retry_max_delay: Longest backoff delay in seconds (default 20).
        verify_image_size: For Qwen2.5-VL grounding, mark a result whose reported prompt is shorter than
            the image sent (the server shrank it, so pixel boxes would be wrong) with
            :class:`~qwen_vlm.errors.ImageResizedError` (default ``True``).
        max_images_per_request: Most images one request may carry, as the server is configured (vLLM's
            ``--limit-mm-per-prompt '{"image": N}'``); a larger :class:`~qwen_vlm.Images` group is refused
            with a ``ConfigurationError`` before anything is sent. Default: no limit checked here.
    """

    max_batch_size = 1
    accepts_urls = True
    accepts_image_groups = True

    def __init__(
        self,
        model: str,
        *,
        provider: Literal["openrouter", "openai"] = "openrouter",
        api_key: str | None = None,
        base_url: str | None = None,
        privacy: str | None = None,
        max_concurrent_requests: int = 8,
        timeout: float = 60.0,
        max_retries: int = 3,
        family: Family | None = None,
        server: ServerName | None = None,
        max_pixels: int | None = None,
        min_pixels: int | None = None,
        app_name: str | None = None,
        app_url: str | None = None,
        provider_options: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 20.0,
        verify_image_size: bool = True,
        max_images_per_request: int | None = None,
    ) -> None:
        if provider not in ("openrouter", "openai"):
            raise ConfigurationError(f"provider must be 'openrouter' or 'openai', got {provider!r}")
        check_str("model", model, optional=False)
        check_str("api_key", api_key)
        check_url("base_url", base_url)
        check_choice("server", server, tuple(SERVERS))
        check_choice("privacy", privacy, tuple(_PRIVACY))
        check_int("max_concurrent_requests", max_concurrent_requests, optional=False)
        check_number("timeout", timeout, exclusive_minimum=True, optional=False)
        check_int("max_retries", max_retries, minimum=0, optional=False)
        check_int("max_pixels", max_pixels)
        check_int("min_pixels", min_pixels)
        check_str("app_name", app_name)
        check_str("app_url", app_url)
        provider_options = check_mapping("provider_options", provider_options)
        extra_body = check_mapping("extra_body", extra_body)
        check_number("retry_base_delay", retry_base_delay, optional=False)
        check_number("retry_max_delay", retry_max_delay, optional=False)
        check_bool("verify_image_size", verify_image_size, optional=False)
        check_int("max_images_per_request", max_images_per_request)
        if retry_max_delay < retry_base_delay:
            raise ConfigurationError(
                f"retry_max_delay ({retry_max_delay:g}) is below retry_base_delay ({retry_base_delay:g})"
            )
        info = resolve_model(model, provider, family=family)
        if not info.vision:
            raise ConfigurationError(
                f"model {model!r} is text-only and cannot run image tasks; pick a Qwen-VL or Qwen3.5+ model"
            )
        if provider == "openai" and not base_url:
            raise ConfigurationError(
                'backend="openai" needs base_url=, e.g. "http://localhost:8000/v1" for a vLLM server'
            )
        self._base_url = base_url or OPENROUTER_BASE_URL
        server_name: ServerName = server or (
            "openrouter" if provider == "openrouter" else guess_server(self._base_url)
        )
        self._server: ServerProfile = SERVERS[server_name]
        if privacy is not None and not self._server.privacy:
            raise ConfigurationError(f"privacy= applies to OpenRouter only, not to a {server_name} server")
        self._privacy = privacy or "deny"
        if provider == "openrouter":
            key = api_key or os.environ.get("OPENROUTER_API_KEY")
            if not key:
                raise ConfigurationError(
                    "OpenRouter needs an API key: set the OPENROUTER_API_KEY environment variable "
                    "or pass api_key="
                )
        else:
            key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.__key = key
        # Reasoning is switched off by default (it costs latency and can eat max_tokens).
        if info.thinking == "hybrid" and info.thinking_default:
            info = replace(info, thinking_default=False)
        self.info = info
        self.max_concurrency = max_concurrent_requests
        self._timeout = float(timeout)
        self._max_retries = max_retries
        spec = info.spec
        self._min_pixels = min_pixels or spec.min_pixels
        self._max_pixels = max_pixels or DEFAULT_MAX_TOKENS_PER_IMAGE * spec.factor**2
        if self._max_pixels < self._min_pixels:
            raise ConfigurationError(
                f"max_pixels ({self._max_pixels}) is below min_pixels ({self._min_pixels})"
            )
        self._headers = {k: v for k, v in (("X-Title", app_name), ("HTTP-Referer", app_url)) if v}
        self._provider_options = dict(provider_options or {})
        self._extra_body = dict(extra_body or {})
        self._verify_image_size = verify_image_size
        #: Most images one request may carry (vLLM's ``--limit-mm-per-prompt``); a larger group is refused
        #: before anything is sent. ``None``: no limit known here (the server's refusal is reported).
        self.max_images_per_request = max_images_per_request
        self._retry_base = retry_base_delay
        self._retry_max = retry_max_delay
        self._schema_supported = True
        self._lock = threading.Lock()
        # Encoded images by id(PIL image), holding the image so the id stays its own: an image sent
        # several times in one call (or in calls close together) is resized and encoded once.
        self._encoded: OrderedDict[int, tuple[Image.Image, str, tuple[int, int]]] = OrderedDict()
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None
        self._async_loop: object = None
        self._openai = self._import_openai()

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _import_openai() -> Any:
        try:
            import openai
        except ImportError:
            raise MissingDependencyError(
                "openai", "openrouter", "The OpenRouter/OpenAI-compatible backend"
            ) from None
        return openai

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleBackend(model={self.info.id!r}, server={self._server.name!r}, "
            f"base_url={self._base_url!r}, privacy={self._privacy!r})"
        )

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.__key,
            "base_url": self._base_url,
            "timeout": self._timeout,
            "max_retries": 0,  # tenacity is the only retry layer
            "default_headers": self._headers or None,
        }

    def _sync_client(self) -> openai.OpenAI:
        with self._lock:
            if self._sync is None:
                self._sync = self._openai.OpenAI(**self._client_kwargs())
            return self._sync

    def _async_client(self) -> openai.AsyncOpenAI:
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            # An AsyncOpenAI's connections belong to the loop that opened them: scripts that call
            # asyncio.run() more than once get a fresh client per loop.
            if self._async is None or self._async_loop is not loop:
                # A plain httpx client (the SDK's default wrapper schedules its own closing on whatever
                # loop is running when it is garbage collected: with a client left over from an earlier
                # asyncio.run(), that task fails with "Event loop is closed" and is reported at exit).
                http_client = self._openai.DefaultAsyncHttpxClient()
                self._async = self._openai.AsyncOpenAI(**self._client_kwargs(), http_client=http_client)
                self._async_loop = loop
            return self._async

    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if len(self.__key) >= 4 else text

    # ------------------------------------------------------------------ requests
    def encode_image(self, request: GenerationRequest) -> tuple[str, tuple[int, int] | None]:
        """The first image part's URL and the size the model will see (``None``: a URL passed through)."""
        return self._encode_ref(request.image, request.needs_geometry)

    def _encode_ref(self, ref: ImageRef, needs_geometry: bool) -> tuple[str, tuple[int, int] | None]:
        if ref.url is not None and not ref.loaded and not needs_geometry:
            return ref.url, None
        image = ref.pil()
        with self._lock:
            cached = self._encoded.get(id(image))
            if cached is not None and cached[0] is image:  # the same image again (e.g. one image, many tasks)
                self._encoded.move_to_end(id(image))
                return cached[1], cached[2]
        url, size = self._encode(image)
        with self._lock:
            self._encoded[id(image)] = (image, url, size)
            while len(self._encoded) > _ENCODE_CACHE_SIZE:
                self._encoded.popitem(last=False)
        return url, size

    def _encode(self, image: Image.Image) -> tuple[str, tuple[int, int]]:
        spec = self.info.spec
        max_pixels = self._max_pixels
        quality = 90
        while True:
            size = smart_resize(
                image.width,
                image.height,
                factor=spec.factor,
                min_pixels=self._min_pixels,
                max_pixels=max_pixels,
            )
            sent = image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            sent.save(buffer, format="JPEG", quality=quality)
            encoded = base64.b64encode(buffer.getvalue())
            if len(encoded) <= MAX_PAYLOAD_BYTES or max_pixels <= self._min_pixels:
                return f"data:image/jpeg;base64,{encoded.decode('ascii')}", size
            if quality > 75:
                quality = 75
            else:
                max_pixels = max(self._min_pixels, int(max_pixels * 0.7))

    def video_frames_sent(self, clip: Any) -> int:
        """How many image parts a video becomes here: none when it goes as a ``video_url``."""
        if clip.source is None or not self._server.video_url:
            return len(clip.frames)
        if clip.source.lower().startswith(("http://", "https://")):
            return 0
        too_big = os.path.getsize(os.path.expanduser(clip.source)) > MAX_VIDEO_BYTES
        return len(clip.frames) if too_big else 0  # too large to inline: the sampled frames go instead

    def _video_url(self, request: GenerationRequest) -> str | None:
        """The ``video_url`` to send for a video file or URL, where the server takes one (else ``None``)."""
        clip = request.video
        if clip is None or self.video_frames_sent(clip) > 0:
            return None
        assert clip.source is not None
        if clip.source.lower().startswith(("http://", "https://")):
            return clip.source
        path = os.path.expanduser(clip.source)
        with open(path, "rb") as handle:
            data = base64.b64encode(handle.read()).decode("ascii")
        mime = mimetypes.guess_type(path)[0] or "video/mp4"
        return f"data:{mime};base64,{data}"

    def build_body(
        self, request: GenerationRequest, image_url: str | Sequence[str], lead: str | None = None
    ) -> dict[str, Any]:
        """The chat-completions request body (without transport options): the image parts, then the text.

        ``lead``: text sent before the images (a video's frame times).
        """
        urls = [image_url] if isinstance(image_url, str) else list(image_url)
        parts: list[dict[str, Any]] = [{"type": "text", "text": lead}] if lead else []
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        body: dict[str, Any] = {
            "model": self.info.id,
            "messages": [{"role": "user", "content": [*parts, {"type": "text", "text": request.prompt}]}],
            "max_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        extra: dict[str, Any] = {}
        thinking = self.info.thinking
        if request.enable_thinking is False and self.info.rejects_reasoning_off:
            logger.warning("%s cannot switch reasoning off; it will reason anyway", self.info.id)
        elif request.enable_thinking is not None:
            extra.update(self._server.thinking_body(request.enable_thinking))
        elif thinking == "hybrid":
            extra.update(self._server.thinking_body(False))
        schema, name = request.json_schema, "extraction"
        if schema is None and request.constraint is not None and self._server.grammar_tasks:
            schema, name = request.constraint.json_schema(), request.constraint.kind
        use_schema = schema is not None and self._schema_supported
        if use_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        if self._server.privacy:
            provider = {**_PRIVACY[self._privacy], **self._provider_options}
            if use_schema:
                provider["require_parameters"] = True
            extra["provider"] = provider
        extra.update(self._extra_body)
        body["extra_body"] = extra
        return body

    def _resized(self, request: GenerationRequest, usage: Usage | None, sizes: Sizes) -> str | None:
        """Why the server must have shrunk the image (its prompt is shorter than the image alone), or None.

        Only matters where coordinates are absolute pixels of the image the model saw (Qwen2.5-VL): the
        0-1000 grid of the other families does not change with the image's size.
        """
        spec = self.info.spec
        if (
            not self._verify_image_size
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

    def _error_in_body(self, extra: Any, where: str = "") -> BackendError | None:
        """An error object the server put inside a 200 body or a stream event (OpenRouter does)."""
        error = extra.get("error") if isinstance(extra, dict) else None
        if not error:
            return None
        code = error.get("code") if isinstance(error, dict) else None
        message = self._scrub(_body_message({"error": error}, str(error)))
        return _status_error(code if isinstance(code, int) else 502, f"{where}{message}")

    def _reasoning_of(self, message: Any) -> str | None:
        """The reasoning text a message (or stream delta) carries in this server's field, if any."""
        extra = getattr(message, "model_extra", None) or {}
        for field in self._server.reasoning_fields:
            value = extra.get(field) if isinstance(extra, dict) else None
            if isinstance(value, str) and value:
                return value
        return None

    def _response(
        self,
        content: str | None,
        thinking: str | None,
        sizes: Sizes,
        usage: Usage | None,
        finish: str | None,
        request: GenerationRequest | None,
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
            resized = self._resized(request, usage, sizes) if request is not None else None
            error = ImageResizedError(resized) if resized else None
        return GenerationResponse(
            text=content or "",
            thinking=thinking,
            input_size=sizes[0],
            input_sizes=sizes if len(sizes) > 1 and None not in sizes else None,  # type: ignore[arg-type]
            usage=usage,
            finish_reason=finish,
            error=error,
        )

    def _parse(
        self, completion: Any, sizes: Sizes, request: GenerationRequest | None = None
    ) -> GenerationResponse:
        error = self._error_in_body(getattr(completion, "model_extra", None) or {})
        if error is not None:
            raise _as_retryable(error)
        choices = getattr(completion, "choices", None)
        if not choices:
            raise _Retryable(ServerError("the server returned no choices"))
        choice = choices[0]
        message = getattr(choice, "message", None)
        return self._response(
            _text_of(getattr(message, "content", None)),
            self._reasoning_of(message),
            sizes,
            _usage(getattr(completion, "usage", None)),
            getattr(choice, "finish_reason", None),
            request,
        )

    def _map_exception(self, exc: Exception) -> BackendError:
        openai = self._openai
        if isinstance(exc, openai.APITimeoutError):
            return RequestTimeoutError(f"no answer within {self._timeout:g} s (timeout)")
        if isinstance(exc, openai.APIConnectionError):
            return ServerError(self._scrub(f"could not connect to {self._base_url}: {exc}"))
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            if body is None:
                try:
                    body = exc.response.text
                except Exception:  # the body could not be read: use the SDK's message
                    body = None
            message = self._scrub(_body_message(body, exc.message))
            return _status_error(exc.status_code, message, _retry_after(exc.response.headers))
        if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
            return ServerError(self._scrub(f"the server's answer could not be read: {exc}"))
        return BackendError(self._scrub(f"unexpected {type(exc).__name__}: {exc}"))

    def _retrying(self) -> Any:
        import tenacity

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(getattr(exc, "error", None), "retry_after", None)
            if retry_after is not None:
                return float(min(retry_after, self._retry_max))
            return float(
                tenacity.wait_random_exponential(multiplier=self._retry_base, max=self._retry_max)(state)
            )

        def log(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.info("retrying %s after attempt %d: %s", self.info.id, state.attempt_number, exc)

        return {
            "retry": tenacity.retry_if_exception_type(_Retryable),
            "stop": tenacity.stop_after_attempt(self._max_retries + 1),
            "wait": wait,
            "before_sleep": log,
            "reraise": True,
        }

    def _prepare(self, request: GenerationRequest) -> tuple[dict[str, Any], Sizes]:
        video_url = self._video_url(request)
        if video_url is not None:  # the server samples the file itself (vLLM, SGLang)
            body = self.build_body(request, [])
            body["messages"][0]["content"].insert(0, {"type": "video_url", "video_url": {"url": video_url}})
            body["extra_body"]["mm_processor_kwargs"] = {"fps": request.video.sample_fps}  # type: ignore[union-attr]
            return body, (None,)
        if request.video is not None:  # frames as images, their times said first (servers without video)
            frames = [self._encode(frame) for frame in request.video.frames]
            lead = prompts.video_frames_note(request.video.timestamps)
            return self.build_body(request, [url for url, _ in frames], lead), (frames[0][1],)
        encoded = [self._encode_ref(ref, request.needs_geometry) for ref in request.images]
        return self.build_body(request, [url for url, _ in encoded]), tuple(size for _, size in encoded)

    def _schema_fallback(self, error: BackendError, body: dict[str, Any]) -> bool:
        """Resend without ``response_format`` when the server says it does not take it.

        Only a 400/422 whose message is about structured output counts (a wrong model name or an unknown
        field does not), and the choice is remembered for this client only, i.e. this server and model.
        """
        if (
            isinstance(error, BadRequestError)
            and "response_format" in body
            and _is_schema_rejection(str(error))
        ):
            logger.info("server rejected response_format; falling back to prompt-only JSON: %s", error)
            self._schema_supported = False
            body.pop("response_format")
            body["extra_body"].get("provider", {}).pop("require_parameters", None)
            return True
        return False

    def _one(self, request: GenerationRequest) -> GenerationResponse:
        import tenacity

        body, sizes = self._prepare(request)
        client = self._sync_client()

        def attempt() -> GenerationResponse:
            try:
                completion = client.chat.completions.create(**body)
            except Exception as exc:
                error = self._map_exception(exc)
                if self._schema_fallback(error, body):
                    return attempt()
                raise _as_retryable(error) from None
            return self._parse(completion, sizes, request)

        try:
            result: GenerationResponse = tenacity.Retrying(**self._retrying())(attempt)
            return result
        except _Retryable as wrapped:
            return GenerationResponse(text="", input_size=sizes[0], error=wrapped.error)

    async def _aone(self, request: GenerationRequest) -> GenerationResponse:
        import asyncio

        import tenacity

        ref = request.image
        if ref.url is not None and not ref.loaded and not request.needs_geometry:
            body, sizes = self._prepare(request)  # a URL passed through: nothing to encode
        else:
            # Decoding, resizing and JPEG-encoding take ~20 ms for a 1280x960 image: off the event loop.
            body, sizes = await asyncio.to_thread(self._prepare, request)
        client = self._async_client()

        async def attempt() -> GenerationResponse:
            try:
                completion = await client.chat.completions.create(**body)
            except Exception as exc:
                error = self._map_exception(exc)
                if self._schema_fallback(error, body):
                    return await attempt()
                raise _as_retryable(error) from None
            return self._parse(completion, sizes, request)

        try:
            result: GenerationResponse = await tenacity.AsyncRetrying(**self._retrying())(attempt)
            return result
        except _Retryable as wrapped:
            return GenerationResponse(text="", input_size=sizes[0], error=wrapped.error)

    # ------------------------------------------------------------------ streaming
    def _stream_body(self, request: GenerationRequest) -> tuple[dict[str, Any], Sizes]:
        body, sizes = self._prepare(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        return body, sizes

    def _open_error(self, exc: Exception, body: dict[str, Any]) -> Exception:
        error = self._map_exception(exc)
        if self._schema_fallback(error, body):
            return _Resend()
        return _as_retryable(error)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        """Stream one request over server-sent events; retried only until the stream is open.

        Raises:
            BackendError: The typed error, when the request fails or the stream breaks off.
        """
        import tenacity

        body, sizes = self._stream_body(request)
        client = self._sync_client()

        def attempt() -> Any:
            try:
                return client.chat.completions.create(**body)
            except Exception as exc:
                error = self._open_error(exc, body)
                if isinstance(error, _Resend):
                    return attempt()
                raise error from None

        try:
            opened = tenacity.Retrying(**self._retrying())(attempt)
        except _Retryable as wrapped:
            raise wrapped.error from None
        return self._read_stream(opened, request, sizes)

    def _read_stream(self, opened: Any, request: GenerationRequest, sizes: Sizes) -> Iterator[StreamChunk]:
        reader = _SSEReader(self, request, sizes)
        try:
            for chunk in opened:
                yield from reader.feed(chunk)
        except QwenVLMError:
            raise
        except Exception as exc:
            raise reader.broken(exc) from None
        finally:
            opened.close()
        yield from reader.finish()

    async def astream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        """Async :meth:`stream`, on ``AsyncOpenAI``; encoding runs off the event loop."""
        import asyncio

        import tenacity

        body, sizes = await asyncio.to_thread(self._stream_body, request)
        client = self._async_client()

        async def attempt() -> Any:
            try:
                return await client.chat.completions.create(**body)
            except Exception as exc:
                error = self._open_error(exc, body)
                if isinstance(error, _Resend):
                    return await attempt()
                raise error from None

        try:
            opened: Any = await tenacity.AsyncRetrying(**self._retrying())(attempt)
        except _Retryable as wrapped:
            raise wrapped.error from None
        reader = _SSEReader(self, request, sizes)
        try:
            async for chunk in opened:
                for piece in reader.feed(chunk):
                    yield piece
        except QwenVLMError:
            raise
        except Exception as exc:
            raise reader.broken(exc) from None
        finally:
            await opened.close()
        for piece in reader.finish():
            yield piece

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Send each request (the client runs several calls in parallel), one response per request."""
        return [self._guard(self._one, r) for r in requests]

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Async :meth:`generate`, on ``AsyncOpenAI``."""
        out = []
        for request in requests:
            try:
                out.append(await self._aone(request))
            except QwenVLMError as exc:
                if exc.whole_call:
                    raise
                out.append(GenerationResponse(text="", error=exc))
        return out

    @staticmethod
    def _guard(call: Any, request: GenerationRequest) -> GenerationResponse:
        try:
            response: GenerationResponse = call(request)
            return response
        except QwenVLMError as exc:
            if exc.whole_call:
                raise
            return GenerationResponse(text="", error=exc)

    def close(self) -> None:
        """Close the HTTP connection pools."""
        with self._lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None
            self._async = None  # AsyncOpenAI's pool closes with its event loop


class _Resend(Exception):
    """Internal: resend the request (the server refused response_format; it was removed)."""


class _SSEReader:
    """Turns chat-completion chunks into :class:`StreamChunk` objects and, at the end, the response."""

    def __init__(self, backend: OpenAICompatibleBackend, request: GenerationRequest, sizes: Sizes) -> None:
        self.backend = backend
        self.request = request
        self.sizes = sizes
        self.splitter = ThinkingSplitter()
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def feed(self, chunk: Any) -> list[StreamChunk]:
        backend = self.backend
        error = backend._error_in_body(getattr(chunk, "model_extra", None) or {}, "mid-stream: ")
        if error is not None:
            raise error
        if getattr(chunk, "usage", None) is not None:
            self.usage = _usage(chunk.usage)
        out: list[StreamChunk] = []
        for choice in getattr(chunk, "choices", None) or []:
            delta = getattr(choice, "delta", None)
            reasoning = backend._reasoning_of(delta)
            if reasoning:
                self.reasoning.append(reasoning)
                out.append(StreamChunk(thinking=reasoning))
            content = getattr(delta, "content", None)
            if isinstance(content, str) and content:
                self.content.append(content)
                out.extend(stream_chunks(self.splitter.feed(content)))
            if getattr(choice, "finish_reason", None):
                self.finish_reason = choice.finish_reason
                if choice.finish_reason == "error":
                    raise ServerError("the server reported an error mid-stream (finish_reason: error)")
        return out

    def broken(self, exc: Exception) -> BackendError:
        openai = self.backend._openai
        scrub = self.backend._scrub
        if isinstance(exc, openai.APIStatusError):
            return self.backend._map_exception(exc)
        if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
            # The SDK raises this for an error event inside the stream (OpenRouter's mid-stream errors).
            message = _body_message(getattr(exc, "body", None), str(exc))
            return ServerError(scrub(f"the server reported an error mid-stream: {message}"))
        return ServerError(scrub(f"the stream broke off: {type(exc).__name__}: {exc}"))

    def finish(self) -> list[StreamChunk]:
        if self.finish_reason is None:
            # Every server ends a stream with a finish_reason; a connection that closes before it has
            # dropped mid-answer (the SDK sees a clean end of the event stream).
            raise ServerError("the stream broke off before the answer ended (no finish_reason was sent)")
        response = self.backend._response(
            "".join(self.content) or None,
            "".join(self.reasoning) or None,
            self.sizes,
            self.usage,
            self.finish_reason,
            self.request,
        )
        return [*stream_chunks(self.splitter.close()), StreamChunk(response=response)]


def _text_of(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") if isinstance(p, dict) else getattr(p, "text", None) for p in content]
        return "".join(p for p in parts if isinstance(p, str))
    return str(content)


def _as_retryable(error: BackendError) -> Exception:
    return _Retryable(error) if isinstance(error, _TRANSIENT) else error


def _usage(usage: Any) -> Usage | None:
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
