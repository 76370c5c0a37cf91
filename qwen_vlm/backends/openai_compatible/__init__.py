"""The OpenAI-compatible backend: OpenRouter is one server of it; vLLM, SGLang, Ollama, DashScope others.

* :mod:`.backend`: :class:`OpenAICompatibleBackend`, which wires the parts below together;
* :mod:`.request`: the request body (images resized to a smart-resize fixed point and encoded, video
  parts, thinking and ``response_format`` fields);
* :mod:`.transport`: the ``openai`` clients, error mapping and the one retry layer (tenacity);
* :mod:`.response`: reading whole and streamed answers;
* :mod:`.servers`: the dialect table — how each kind of server differs.
"""

from __future__ import annotations

from .backend import OPENROUTER_BASE_URL, OpenAICompatibleBackend

__all__ = ["OPENROUTER_BASE_URL", "OpenAICompatibleBackend"]
