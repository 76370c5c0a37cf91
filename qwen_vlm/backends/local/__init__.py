"""The local backend: Qwen-VL checkpoints on this machine with Hugging Face transformers (5.x).

* :mod:`.backend`: :class:`LocalBackend` — options, life cycle, batching and dispatch;
* :mod:`.loading`: finding and loading a checkpoint (families, device and dtype, LoRA adapters);
* :mod:`.runtime`: the loaded model and processor, with the chat template and token helpers;
* :mod:`.generation`: one batch through ``generate``, decoded into responses;
* :mod:`.streaming`: one generation streamed from a worker thread;
* :mod:`.reuse` and :mod:`.prefix_cache`: one image, many tasks (prompt-prefix reuse);
* :mod:`.constrained` and :mod:`.grammar`: decoding structured tasks under a grammar (xgrammar);
* :mod:`.scoring`: class scores from teacher-forced likelihoods;
* :mod:`.video_inputs`: videos through the checkpoint's own frame sampler.

Importing this package imports none of torch, transformers or xgrammar: they load when a
:class:`LocalBackend` is created.
"""

from __future__ import annotations

from .backend import LocalBackend
from .loading import pick_device

__all__ = ["LocalBackend", "pick_device"]
