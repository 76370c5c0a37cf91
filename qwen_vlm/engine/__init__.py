"""The engine: one call, from a task method's arguments to its results. Shared by both clients.

A call reads top to bottom:

0. :mod:`.windows` — with ``window=`` or ``refine=True``, a call over videos becomes a call over their
   windows (then closer looks), whose results are combined per video; each such call runs 1–5.
1. :mod:`.settings` — the options and the task's parameters checked (the task object from the registry,
   the backend's :class:`~qwen_vlm.backends.Capabilities`); nothing is read yet.
2. :mod:`.inputs` — every input read and checked in one pass (images, groups, videos).
3. :mod:`.core` — the plan: one :class:`~qwen_vlm.backends.GenerationRequest` per readable input, with the
   task's prompt, schema, grammar and class scoring (:class:`.call.Plan`).
4. :mod:`.threads` / :mod:`.aio` — the requests sent in chunks (sync: a thread pool; async: tasks), the
   result store consulted just before each chunk (:mod:`qwen_vlm.store`).
5. :mod:`.responses` — each response read by its task into a typed result; strict mode applied.
"""
