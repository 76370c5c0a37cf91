"""The exception tree of qwen_vlm.

Every exception the SDK raises on purpose derives from :class:`QwenVLMError`::

    QwenVLMError
    ├── ConfigurationError          bad option, unknown/mismatched model, missing API key   (whole call)
    │   ├── MissingDependencyError  an optional extra is not installed (also an ImportError) (whole call)
    │   └── DatasetError            a labelled dataset cannot be read; names the file and line (whole call)
    ├── ImageError                  an input image cannot be read; ``.index`` names it   (single image)
    ├── OutputParseError            the model's answer could not be parsed                    (per image)
    │   └── TruncatedOutputError    the answer was cut off at ``max_tokens`` before it parsed (per image)
    ├── BatchError                  ``strict=True`` on a list: some images failed; ``.results`` has all
    └── BackendError                a request to the model failed                            (per image)
        ├── AuthenticationError     401/403: the key is missing, wrong or not allowed         (whole call)
        ├── InsufficientCreditsError 402: the account has no credits left                     (whole call)
        ├── ModelNotFoundError      the server or hub does not know the model                 (whole call)
        ├── BadRequestError         400: the server rejected the request as malformed
        ├── RateLimitError          429 after all retries; ``.retry_after`` when known
        ├── RequestTimeoutError     408 or no answer within ``timeout``
        ├── ServerError             5xx, or an error object inside an HTTP 200 body
        ├── TokenLimitError         the answer was cut at ``max_tokens`` before any content
        ├── ImageResizedError       the server shrank the image, so pixel coordinates would be wrong
        └── OutOfMemoryError        the device ran out of memory; ``.batch_size`` says with how many images

*Whole call* errors are raised at once, even in the middle of a batch: nothing else could succeed.
*Per image* errors are recorded on that image's result (``result.error`` is the message,
``result.exception`` the typed error) so a batch never loses the other images' work. In a list, an
unreadable image is such a per-image failure too (nothing is sent for it); a single unreadable image
raises :class:`ImageError`. ``strict=True`` raises instead: the error itself for a single image, or, for a
list, one :class:`BatchError` once every image was tried, naming the failed indices and carrying every
result. Every error has ``.index``: the image's position in the list, or ``None``.

Messages never contain API keys.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "BatchError",
    "ConfigurationError",
    "DatasetError",
    "ImageError",
    "ImageResizedError",
    "InsufficientCreditsError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "OutOfMemoryError",
    "OutputParseError",
    "QwenVLMError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "TokenLimitError",
    "TruncatedOutputError",
]


class QwenVLMError(Exception):
    """Base class of every error raised by qwen_vlm."""

    #: True when the error concerns the whole call (raised at once, never recorded per image).
    whole_call: bool = False
    #: Position of the image this error concerns in the list passed, or ``None``.
    index: int | None = None


class ConfigurationError(QwenVLMError, ValueError):
    """The client or a call is configured wrongly (unknown model, backend mismatch, missing key...)."""

    whole_call = True


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f'Install it with: pip install "qwen-vlm[{extra}]"'
        )


class DatasetError(ConfigurationError):
    """A labelled dataset (for :func:`~qwen_vlm.evaluate`) cannot be read; raised before any model call.

    Attributes:
        path: The file or folder at fault, when there is one.
        line: The line (1-based) in that file, when known.
    """

    def __init__(self, message: str, path: Any = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path is not None and line is not None else f"{path}: " if path else ""
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class ImageError(QwenVLMError, ValueError):
    """An input image could not be read.

    Attributes:
        index: Position of the bad image in the batch (``None`` for a single image).
    """

    whole_call = True

    def __init__(self, message: str, index: int | None = None) -> None:
        self.index = index
        self.reason = message  # the message without the "image N:" prefix
        where = f"image {index}" if index is not None else "image"
        super().__init__(f"{where}: {message}")


class OutputParseError(QwenVLMError):
    """The model answered, but the answer could not be parsed into the task's result.

    Attributes:
        text: The raw model output.
    """

    def __init__(self, message: str, text: str = "") -> None:
        self.text = text
        super().__init__(message)


class TruncatedOutputError(OutputParseError):
    """The answer was cut off (usually at ``max_tokens``) before it held a complete result."""


class BatchError(QwenVLMError):
    """``strict=True`` on a list of images, and some of them failed. Raised after every image was tried.

    Attributes:
        results: Every result, in input order (failed ones have ``error`` set): paid work is never lost.
        failed: Indices of the failed images.
        exceptions: The typed error of each failed image, in the order of ``failed``.
    """

    def __init__(self, results: list[Any], failed: list[int], exceptions: list[QwenVLMError]) -> None:
        self.results = results
        self.failed = failed
        self.exceptions = exceptions
        first = exceptions[0] if exceptions else None
        shown = ", ".join(str(i) for i in failed[:20]) + (", ..." if len(failed) > 20 else "")
        detail = f"; first: {type(first).__name__}: {first}" if first is not None else ""
        super().__init__(
            f"{len(failed)} of {len(results)} images failed (indices {shown}){detail}. "
            "Every result is in exc.results"
        )


class BackendError(QwenVLMError):
    """A request to the model failed.

    Attributes:
        status_code: The HTTP status code when there was one.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class AuthenticationError(BackendError):
    """The API key is missing, invalid or not allowed to use this model (401/403)."""

    whole_call = True


class InsufficientCreditsError(BackendError):
    """The account has run out of credits (402)."""

    whole_call = True


class ModelNotFoundError(BackendError):
    """The server or the model hub does not know this model id."""

    whole_call = True


class BadRequestError(BackendError):
    """The server rejected the request as malformed (400)."""


class RateLimitError(BackendError):
    """Rate limited (429) after all retries.

    Attributes:
        retry_after: Seconds the server asked to wait, when it said.
    """

    def __init__(self, message: str, status_code: int | None = 429, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status_code)


class RequestTimeoutError(BackendError):
    """The request timed out (408, or no answer within the client's ``timeout``)."""


class ServerError(BackendError):
    """The server failed (5xx), or reported an error inside an HTTP 200 body."""


class TokenLimitError(BackendError):
    """The model stopped at ``max_tokens`` before producing any answer (often: reasoning used the budget)."""


class ImageResizedError(BackendError):
    """The server resized the image below the size sent.

    Absolute-pixel coordinates (Qwen2.5-VL) would then be silently wrong; the message says which
    ``max_pixels`` to pass.
    """


class OutOfMemoryError(BackendError):
    """The device ran out of memory.

    Attributes:
        batch_size: How many images were in the batch that ran out of memory.
    """

    def __init__(self, message: str, batch_size: int) -> None:
        self.batch_size = batch_size
        super().__init__(message)
