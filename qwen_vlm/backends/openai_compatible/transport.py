"""The HTTP side of an OpenAI-compatible server: the ``openai`` clients, error mapping, and retries.

There is exactly one retry layer, tenacity, with the SDK's own retries switched off: exponential backoff
with jitter that honours ``Retry-After``, on 408/429/5xx, connection errors, timeouts, malformed bodies
and errors inside an HTTP 200 body; never on 400/401/402/403/404. The key lives here only, and every
message that may quote the server passes through :meth:`Transport.scrub`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ...errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    InsufficientCreditsError,
    MissingDependencyError,
    ModelNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)

if TYPE_CHECKING:
    import openai

__all__ = ["MAX_SERVER_MESSAGE", "Resend", "Retryable", "Transport", "as_retryable", "body_message"]

logger = logging.getLogger("qwen_vlm")

_TRANSIENT = (RateLimitError, ServerError, RequestTimeoutError)
#: Longest server message quoted in an error (a full HTML error page is not useful).
MAX_SERVER_MESSAGE = 500
# Words in a server's rejection that mean "I do not support structured output / this schema".
_SCHEMA_WORDS = ("response_format", "json_schema", "structured output", "guided", "grammar", "schema")


class Retryable(Exception):
    """Internal: wraps a transient error so tenacity retries it."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(str(error))
        self.error = error


class Resend(Exception):
    """Internal: resend the request (the server refused response_format; it was removed)."""


def as_retryable(error: BackendError) -> Exception:
    """The error wrapped for a retry when it is transient, else the error itself."""
    return Retryable(error) if isinstance(error, _TRANSIENT) else error


def status_error(status: int, message: str, retry_after: float | None = None) -> BackendError:
    """The typed error for an HTTP status."""
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


def _detail_message(detail: list[Any]) -> str:
    """FastAPI's list of field errors as one line."""
    parts = []
    for item in detail[:5]:
        if isinstance(item, dict):
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item)))
        else:
            parts.append(str(item))
    return "; ".join(parts)


def body_message(body: Any, fallback: str) -> str:
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
            message = _detail_message(detail)
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


def is_schema_rejection(error: BackendError) -> bool:
    """Whether a 400/422 is the server refusing structured output (not a wrong model or field)."""
    lowered = str(error).lower()
    return isinstance(error, BadRequestError) and any(word in lowered for word in _SCHEMA_WORDS)


class Transport:
    """The ``openai`` clients of one server, the key, and the retry policy.

    Args:
        key: The API key (kept here only; never shown).
        base_url: The endpoint.
        timeout: Seconds per request attempt.
        headers: Extra HTTP headers (OpenRouter's ``X-Title``, ``HTTP-Referer``).
        max_retries: Retries of transient failures.
        retry_base: First backoff delay in seconds.
        retry_max: Longest backoff delay in seconds.
        model: The model id, named in retry log lines.
    """

    def __init__(
        self,
        key: str,
        base_url: str,
        *,
        timeout: float,
        headers: dict[str, str],
        max_retries: int,
        retry_base: float,
        retry_max: float,
        model: str,
    ) -> None:
        self.openai = _import_openai()
        self.__key = key
        self.base_url = base_url
        self.timeout = timeout
        self._headers = headers
        self._max_retries = max_retries
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._model = model
        self._lock = threading.Lock()
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None
        self._async_loop: object = None

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.__key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": 0,  # tenacity is the only retry layer
            "default_headers": self._headers or None,
        }

    def sync_client(self) -> openai.OpenAI:
        """The shared ``OpenAI`` client (created on first use)."""
        with self._lock:
            if self._sync is None:
                self._sync = self.openai.OpenAI(**self._client_kwargs())
            return self._sync

    def async_client(self) -> openai.AsyncOpenAI:
        """The ``AsyncOpenAI`` client of the running event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            # An AsyncOpenAI's connections belong to the loop that opened them: scripts that call
            # asyncio.run() more than once get a fresh client per loop.
            if self._async is None or self._async_loop is not loop:
                # A plain httpx client (the SDK's default wrapper schedules its own closing on whatever
                # loop is running when it is garbage collected: with a client left over from an earlier
                # asyncio.run(), that task fails with "Event loop is closed" and is reported at exit).
                http_client = self.openai.DefaultAsyncHttpxClient()
                self._async = self.openai.AsyncOpenAI(**self._client_kwargs(), http_client=http_client)
                self._async_loop = loop
            return self._async

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced by ``***``."""
        return text.replace(self.__key, "***") if len(self.__key) >= 4 else text

    def map_exception(self, exc: Exception) -> BackendError:
        """The typed error for anything the ``openai`` SDK raised."""
        openai = self.openai
        if isinstance(exc, openai.APITimeoutError):
            return RequestTimeoutError(f"no answer within {self.timeout:g} s (timeout)")
        if isinstance(exc, openai.APIConnectionError):
            return ServerError(self.scrub(f"could not connect to {self.base_url}: {exc}"))
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            if body is None:
                try:
                    body = exc.response.text
                except Exception:  # the body could not be read: use the SDK's message
                    body = None
            message = self.scrub(body_message(body, exc.message))
            return status_error(exc.status_code, message, _retry_after(exc.response.headers))
        if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
            return ServerError(self.scrub(f"the server's answer could not be read: {exc}"))
        return BackendError(self.scrub(f"unexpected {type(exc).__name__}: {exc}"))

    def error_in_body(self, extra: Any, where: str = "") -> BackendError | None:
        """An error object the server put inside a 200 body or a stream event (OpenRouter does)."""
        error = extra.get("error") if isinstance(extra, dict) else None
        if not error:
            return None
        code = error.get("code") if isinstance(error, dict) else None
        message = self.scrub(body_message({"error": error}, str(error)))
        return status_error(code if isinstance(code, int) else 502, f"{where}{message}")

    def retrying(self) -> dict[str, Any]:
        """Tenacity's options: which errors, how many attempts, how long between them."""
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
            logger.info("retrying %s after attempt %d: %s", self._model, state.attempt_number, exc)

        return {
            "retry": tenacity.retry_if_exception_type(Retryable),
            "stop": tenacity.stop_after_attempt(self._max_retries + 1),
            "wait": wait,
            "before_sleep": log,
            "reraise": True,
        }

    def close(self) -> None:
        """Close the HTTP connection pools."""
        with self._lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None
            self._async = None  # AsyncOpenAI's pool closes with its event loop


def _import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise MissingDependencyError(
            "openai", "openrouter", "The OpenRouter/OpenAI-compatible backend"
        ) from None
    return openai
