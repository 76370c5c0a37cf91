"""Per-server differences of OpenAI-compatible endpoints, in one table (pure data).

| server    | thinking switch                                   | reasoning text in   |
|-----------|---------------------------------------------------|---------------------|
| openrouter| ``reasoning: {"enabled": bool}``                  | ``reasoning``       |
| vllm      | ``chat_template_kwargs: {"enable_thinking": bool}``| ``reasoning``       |
| sglang    | ``chat_template_kwargs: {"enable_thinking": bool}``| ``reasoning_content``|

vLLM and SGLang also get a ``response_format`` grammar for detection, pointing and classification
(``grammar_tasks``); every server gets one for ``extract`` (dropped for good when the server rejects it).
| transformers | ``chat_template_kwargs: {"enable_thinking": bool}``| ``reasoning_content``|
| ollama    | ``reasoning_effort: "none"`` (off only)           | ``reasoning``       |
| dashscope | top-level ``enable_thinking: bool``               | ``reasoning_content``|
| generic   | not sent                                          | either              |

Every server may also leave ``<think>...</think>`` in the content; the client splits that off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

__all__ = ["SERVERS", "ServerName", "ServerProfile", "guess_server"]

ServerName = Literal["openrouter", "vllm", "sglang", "transformers", "ollama", "dashscope", "generic"]
ThinkingSwitch = Literal["openrouter", "chat_template_kwargs", "reasoning_effort", "top_level", "none"]


@dataclass(frozen=True)
class ServerProfile:
    """How one kind of server is spoken to.

    Attributes:
        name: The server kind.
        thinking_switch: How reasoning is switched on/off in the request body.
        reasoning_fields: Message fields that may carry reasoning text, in order of preference.
        privacy: Whether OpenRouter's ``provider`` routing (privacy, require_parameters) applies.
        grammar_tasks: Whether ``response_format`` JSON schemas are also sent for detection, pointing and
            classification (servers whose structured output takes any schema, arrays at the top level
            included: vLLM and SGLang). Elsewhere only ``extract`` sends its schema.
        video_url: Whether a video file or URL goes as one ``video_url`` part (the server samples it, at
            ``mm_processor_kwargs.fps``); elsewhere, and for lists of frames, as timed frames.
        logprobs: Whether detection and pointing requests ask for each token's log-probability
            (``logprobs: true``), from which every box and point gets a confidence. OpenRouter passes
            the field on; providers that do not support it return none (confidences are then ``None``).
    """

    name: ServerName
    thinking_switch: ThinkingSwitch
    reasoning_fields: tuple[str, ...]
    privacy: bool = False
    grammar_tasks: bool = False
    video_url: bool = False
    logprobs: bool = False

    def thinking_body(self, enabled: bool) -> dict[str, Any]:
        """The request-body fields that switch reasoning on or off (may be empty)."""
        if self.thinking_switch == "openrouter":
            return {"reasoning": {"enabled": enabled}}
        if self.thinking_switch == "chat_template_kwargs":
            return {"chat_template_kwargs": {"enable_thinking": enabled}}
        if self.thinking_switch == "reasoning_effort":
            return {} if enabled else {"reasoning_effort": "none"}
        if self.thinking_switch == "top_level":
            return {"enable_thinking": enabled}
        return {}


SERVERS: dict[ServerName, ServerProfile] = {
    "openrouter": ServerProfile(
        "openrouter", "openrouter", ("reasoning", "reasoning_content"), privacy=True, logprobs=True
    ),
    "vllm": ServerProfile(
        "vllm",
        "chat_template_kwargs",
        ("reasoning", "reasoning_content"),
        grammar_tasks=True,
        video_url=True,
        logprobs=True,
    ),
    "sglang": ServerProfile(
        "sglang",
        "chat_template_kwargs",
        ("reasoning_content", "reasoning"),
        grammar_tasks=True,
        video_url=True,
        logprobs=True,
    ),
    # `transformers serve`: ignores response_format (it says so in its log), rejects unknown fields (422).
    "transformers": ServerProfile("transformers", "chat_template_kwargs", ("reasoning_content", "reasoning")),
    "ollama": ServerProfile("ollama", "reasoning_effort", ("reasoning", "reasoning_content")),
    "dashscope": ServerProfile("dashscope", "top_level", ("reasoning_content", "reasoning")),
    "generic": ServerProfile("generic", "none", ("reasoning", "reasoning_content")),
}


def guess_server(base_url: str) -> ServerName:
    """Guess the server kind from its URL (OpenRouter, DashScope, Ollama's port; vLLM-style otherwise)."""
    parsed = urlparse(base_url)
    host = (parsed.hostname or "").lower()
    if host.endswith("openrouter.ai"):
        return "openrouter"
    if "dashscope" in host or host.endswith("aliyuncs.com"):
        return "dashscope"
    if parsed.port == 11434:
        return "ollama"
    return "vllm"
