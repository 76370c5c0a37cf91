"""Choosing and compiling the grammar of each row of a local batch (see :mod:`.grammar` for decoding)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ...errors import ConfigurationError
from ..base import GenerationRequest
from .grammar import GrammarEngine, GrammarProcessor, RowGrammar
from .runtime import Runtime

__all__ = ["Grammars"]

logger = logging.getLogger("qwen_vlm")


class Grammars:
    """The grammar engine of one loaded model (built on first use; ``None`` without xgrammar)."""

    def __init__(self) -> None:
        self._engine: GrammarEngine | None = None
        self._warned = False

    def engine(self, rt: Runtime) -> GrammarEngine | None:
        """The engine for this model's tokenizer, or ``None`` (with one warning) when xgrammar is missing."""
        if self._engine is None:
            try:
                import xgrammar  # noqa: F401
            except ImportError:
                if not self._warned:
                    self._warned = True
                    logger.warning(
                        "xgrammar is not installed, so structured tasks are generated without a grammar "
                        "(pip install 'qwen-vlm[local]', or pass constrained=False to silence this)"
                    )
                return None
            vocab = int(rt.model.config.get_text_config().vocab_size)
            self._engine = GrammarEngine(rt.tokenizer, vocab, rt.stop_ids())
        return self._engine

    def check(self, rt: Runtime, requests: Sequence[GenerationRequest]) -> None:
        """Compile each user schema once up front, so a schema xgrammar refuses fails the call at once.

        Raises:
            ConfigurationError: For a schema that cannot be compiled (``whole_call``).
        """
        schemas = {id(r.constraint): r.constraint for r in requests if r.constraint is not None}
        extracts = [c for c in schemas.values() if c.kind == "json"]
        engine = self.engine(rt) if extracts else None
        if engine is None:
            return
        for constraint in extracts:
            try:
                engine.compiled(constraint, None)
            except ConfigurationError as exc:
                exc.whole_call = True
                raise

    def processor(
        self,
        rt: Runtime,
        requests: Sequence[GenerationRequest],
        texts: list[str],
        sizes: list[tuple[int, int]],
    ) -> GrammarProcessor | None:
        """The logits processor constraining the rows that have a constraint (``None`` if none has)."""
        if all(r.constraint is None for r in requests):
            return None
        engine = self.engine(rt)
        if engine is None:
            return None
        rows: list[RowGrammar | None] = []
        for request, text, size in zip(requests, texts, sizes, strict=True):
            if request.constraint is None:
                rows.append(None)
                continue
            grammar, reserve = engine.compiled(request.constraint, size)
            thinking = text.rstrip().endswith("<think>")
            limits = None
            if request.constraint.kind == "boxes":
                limits = size if request.constraint.coordinates == "absolute" else (1000, 1000)
            rows.append(RowGrammar(grammar, reserve, request.max_tokens, thinking, limits))
        return GrammarProcessor(engine, rows)
