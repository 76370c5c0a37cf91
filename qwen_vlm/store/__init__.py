"""A durable result store: long runs that lose nothing and pay once.

``QwenVLM(..., cache="results.db")`` (or ``cache=`` per call) writes every finished result to an SQLite
file as it finishes, keyed by a content hash of everything that decides the answer; a call whose key is
stored returns the stored result and sends nothing. Interrupted runs (Ctrl-C, ``kill -9``, a kernel
restart) resume where they stopped when run again.

* :mod:`.database`: the SQLite file (WAL), checked to be ours before anything is written;
* :mod:`.keys`: what goes into a key;
* :mod:`.codec`: results as JSON and back;
* :mod:`.calls`: one call through the store.
"""

from __future__ import annotations

from .calls import StoredCall, storable
from .database import ResultStore, StoreError

__all__ = ["ResultStore", "StoreError", "StoredCall", "storable"]
