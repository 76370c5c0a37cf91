"""The OpenAI-compatible backend: OpenRouter, vLLM, SGLang, Ollama, DashScope, ``transformers serve``.

Requests go through the official ``openai`` SDK (sync ``OpenAI`` for :meth:`generate`, ``AsyncOpenAI`` for
:meth:`agenerate`). This module wires the parts together: :mod:`.request` builds bodies, :mod:`.transport`
sends them with retries, :mod:`.response` reads the answers, :mod:`.servers` says how each server differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

from ...errors import ConfigurationError, QwenVLMError
from ...geometry import PixelBudget
from ...models import Family
from ..base import GenerationRequest, GenerationResponse, StreamChunk
from ..capabilities import Capabilities
from .request import RequestBuilder, Sizes
from .response import ResponseReader, StreamReader
from .servers import ServerName
from .settings import check_options, model_info, resolve_key, server_profile
from .transport import Resend, Retryable, Transport, as_retryable

__all__ = ["DEFAULT_MAX_TOKENS_PER_IMAGE", "OPENROUTER_BASE_URL", "OpenAICompatibleBackend"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
#: Default upper bound on pixels sent, in tokens of the family's patch grid (1280 tokens ≈ 1 MP).
DEFAULT_MAX_TOKENS_PER_IMAGE = 1280


def _opened(created: Any) -> Any:
    """A stream as it was opened (it is read, and its errors raised, as it is consumed)."""
    return created


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
        options = dict(locals())
        del options["self"]
        check_options(options)
        info = model_info(model, provider, family, base_url)
        self._base_url = base_url or OPENROUTER_BASE_URL
        self._server = server_profile(server, provider, self._base_url, privacy)
        self._privacy = privacy or "deny"
        self.info = info
        self.max_concurrency = max_concurrent_requests
        #: Most images one request may carry (vLLM's ``--limit-mm-per-prompt``); a larger group is refused
        #: before anything is sent. ``None``: no limit known here (the server's refusal is reported).
        self.max_images_per_request = max_images_per_request
        spec = info.spec
        pixels = (min_pixels or spec.min_pixels, max_pixels or DEFAULT_MAX_TOKENS_PER_IMAGE * spec.factor**2)
        if pixels[1] < pixels[0]:
            raise ConfigurationError(f"max_pixels ({pixels[1]}) is below min_pixels ({pixels[0]})")
        self._requests = RequestBuilder(
            info,
            self._server,
            privacy=self._privacy,
            provider_options=dict(provider_options or {}),
            extra_body=dict(extra_body or {}),
            min_pixels=pixels[0],
            max_pixels=pixels[1],
        )
        self._transport = Transport(
            resolve_key(provider, api_key),
            self._base_url,
            timeout=float(timeout),
            headers={k: v for k, v in (("X-Title", app_name), ("HTTP-Referer", app_url)) if v},
            max_retries=max_retries,
            retry_base=retry_base_delay,
            retry_max=retry_max_delay,
            model=info.id,
        )
        self._reader = ResponseReader(
            info, self._server, self._transport, verify_image_size=verify_image_size
        )

    def store_identity(self) -> dict[str, Any]:
        """What about this backend decides answers, for result-store keys (never the key)."""
        return {
            "server": self._server.name,
            "base_url": self._base_url,
            "pixels": [self._requests.min_pixels, self._requests.max_pixels],
        }

    @property
    def gives_confidence(self) -> bool:
        """Whether boxes and points get a confidence here (the server returns token log-probabilities)."""
        return self._server.logprobs

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do: URLs, groups, streams, the server's limits and log-probabilities."""
        return Capabilities(
            accepts_urls=True,
            image_groups=True,
            max_images_per_request=self.max_images_per_request,
            confidences=self._server.logprobs,
            stream=self.stream,
            astream=self.astream,
            video_frames_sent=self.video_frames_sent,
            store_identity=self.store_identity(),
            input_size=self.input_size,
            pixel_budget=PixelBudget(
                self.info.spec.factor, self._requests.min_pixels, self._requests.max_pixels
            ),
        )

    def input_size(self, ref: Any) -> tuple[int, int] | None:
        """The size the image is sent at (encoded now, and reused when the request is sent)."""
        return self._requests.encode_ref(ref, True)[1]

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleBackend(model={self.info.id!r}, server={self._server.name!r}, "
            f"base_url={self._base_url!r}, privacy={self._privacy!r})"
        )

    # ------------------------------------------------------------------ requests
    def encode_image(self, request: GenerationRequest) -> tuple[str, tuple[int, int] | None]:
        """The first image part's URL and the size the model will see (``None``: a URL passed through)."""
        return self._requests.encode_ref(request.image, request.needs_geometry)

    def build_body(
        self, request: GenerationRequest, image_url: str | Sequence[str], lead: str | None = None
    ) -> dict[str, Any]:
        """The chat-completions request body (see :meth:`.request.RequestBuilder.build_body`)."""
        return self._requests.build_body(request, image_url, lead)

    def video_frames_sent(self, clip: Any) -> int:
        """How many image parts a video becomes here: none when it goes as a ``video_url``."""
        return self._requests.video_frames_sent(clip)

    def _on_error(self, exc: Exception, body: dict[str, Any]) -> Exception:
        """What to raise for a failed attempt: :class:`Resend` (schema dropped), retryable, or final."""
        error = self._transport.map_exception(exc)
        if self._requests.schema_fallback(error, body):
            return Resend()
        return as_retryable(error)

    # ------------------------------------------------------------------ the one attempt loop
    def _create(self, body: dict[str, Any], then: Callable[[Any], Any] = _opened) -> Any:
        """``chat.completions.create`` with the retry layer: the attempt every sync path makes.

        ``then`` reads what came back inside the attempt, so an answer that is an error (one inside an
        HTTP 200 body, no choices) is retried like a failed request. A rejected schema is dropped and
        the request resent at once (not counted as a retry).

        Raises:
            Retryable: Still failing after the retries (its ``error`` is the typed error).
            QwenVLMError: A failure that is not retried (a bad key, a bad request...).
        """
        import tenacity

        client = self._transport.sync_client()

        def attempt() -> Any:
            while True:
                try:
                    created = client.chat.completions.create(**body)
                except Exception as exc:
                    error = self._on_error(exc, body)
                    if not isinstance(error, Resend):
                        raise error from None
                else:
                    return then(created)

        return tenacity.Retrying(**self._transport.retrying())(attempt)

    async def _acreate(self, body: dict[str, Any], then: Callable[[Any], Any] = _opened) -> Any:
        """The async twin of :meth:`_create` (the same attempt, on ``AsyncOpenAI``)."""
        import tenacity

        client = self._transport.async_client()

        async def attempt() -> Any:
            while True:
                try:
                    created = await client.chat.completions.create(**body)
                except Exception as exc:
                    error = self._on_error(exc, body)
                    if not isinstance(error, Resend):
                        raise error from None
                else:
                    return then(created)

        return await tenacity.AsyncRetrying(**self._transport.retrying())(attempt)

    # ------------------------------------------------------------------ whole answers
    def _one(self, request: GenerationRequest) -> GenerationResponse:
        body, sizes = self._requests.prepare(request)
        try:
            response: GenerationResponse = self._create(
                body, lambda completion: self._reader.completion(completion, sizes, request)
            )
        except Retryable as wrapped:
            return GenerationResponse(text="", input_size=sizes[0], error=wrapped.error)
        return response

    async def _aone(self, request: GenerationRequest) -> GenerationResponse:
        import asyncio

        ref = request.image
        if ref.url is not None and not ref.loaded and not request.needs_geometry:
            body, sizes = self._requests.prepare(request)  # a URL passed through: nothing to encode
        else:
            # Decoding, resizing and JPEG-encoding take ~20 ms for a 1280x960 image: off the event loop.
            body, sizes = await asyncio.to_thread(self._requests.prepare, request)
        try:
            response: GenerationResponse = await self._acreate(
                body, lambda completion: self._reader.completion(completion, sizes, request)
            )
        except Retryable as wrapped:
            return GenerationResponse(text="", input_size=sizes[0], error=wrapped.error)
        return response

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Send each request (the client runs several calls in parallel), one response per request."""
        return [_guard(self._one, r) for r in requests]

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

    # ------------------------------------------------------------------ streaming
    def _stream_body(self, request: GenerationRequest) -> tuple[dict[str, Any], Sizes]:
        body, sizes = self._requests.prepare(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        return body, sizes

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        """Stream one request over server-sent events; retried only until the stream is open.

        Raises:
            BackendError: The typed error, when the request fails or the stream breaks off.
        """
        body, sizes = self._stream_body(request)
        try:
            opened = self._create(body)
        except Retryable as wrapped:
            raise wrapped.error from None
        return self._read_stream(opened, StreamReader(self._reader, request, sizes))

    @staticmethod
    def _read_stream(opened: Any, reader: StreamReader) -> Iterator[StreamChunk]:
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

        body, sizes = await asyncio.to_thread(self._stream_body, request)
        try:
            opened: Any = await self._acreate(body)
        except Retryable as wrapped:
            raise wrapped.error from None
        reader = StreamReader(self._reader, request, sizes)
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

    def close(self) -> None:
        """Close the HTTP connection pools."""
        self._transport.close()


def _guard(
    call: Callable[[GenerationRequest], GenerationResponse], request: GenerationRequest
) -> GenerationResponse:
    """A per-request failure becomes that request's failed response; a whole-call one is raised."""
    try:
        return call(request)
    except QwenVLMError as exc:
        if exc.whole_call:
            raise
        return GenerationResponse(text="", error=exc)
