"""What the sync and async clients share: validation, planning, and turning responses into results.

:class:`ClientCore` validates inputs, builds requests and turns responses into results; the clients
(:mod:`qwen_vlm.client`, :mod:`qwen_vlm.async_client`) differ only in how requests are executed (a thread
pool vs. asyncio tasks), and the async client's task methods are generated from the sync ones.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Literal

from ..backends import (
    Backend,
    Capabilities,
    GenerationRequest,
    GenerationResponse,
    StreamChunk,
    capabilities_of,
    create_backend,
)
from ..errors import ConfigurationError
from ..groups import is_single_input
from ..image_refs import ImageRef
from ..models import FAMILIES, Family, ModelInfo
from ..options import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_path_or_str,
    check_str,
    check_url,
)
from ..tasks import THINKING_MAX_TOKENS, Frame, Task, get_task
from ..video_budget import video_budget
from .call import CallOptions, Plan, Settings
from .inputs import read_inputs
from .responses import failed, finish, settle
from .settings import call_settings, open_store
from .windows import Windowed, plan_windows, window_settings

if TYPE_CHECKING:
    from ..store import ResultStore, StoredCall

__all__ = ["CallOptions", "ImageBatch", "Privacy"]

#: A batch of images: a list or tuple of anything :data:`~qwen_vlm.images.ImageInput` accepts.
ImageBatch = list[Any] | tuple[Any, ...]
Privacy = Literal["allow", "deny", "zdr"]


def _cannot_stream(backend: Any) -> ConfigurationError:
    return ConfigurationError(f"{type(backend).__name__} cannot stream (its capabilities have no stream)")


def _for_clip(constraint: Any, clip: Any) -> Any:
    """A video's ``events`` constraint bounds its times by the video's length."""
    if constraint is None or clip is None or constraint.kind != "events":
        return constraint
    return dataclasses.replace(constraint, duration=clip.duration)


def _shape(
    task: Task, params: dict[str, Any], info: ModelInfo, settings: Settings, images: int
) -> tuple[str, dict[str, Any] | None, Any]:
    """What a question about ``images`` images sends: its prompt, JSON schema and grammar.

    Raises:
        ConfigurationError: A task whose prompt cannot be built from these parameters.
    """
    try:
        if task.uses_frame:  # its prompt is built image by image (_framed)
            prompt = ""
        else:
            prompt = _text(task, task.prompt(params) if images == 1 else task.group_prompt(params, images))
        if not settings.constrained:
            return prompt, None, None
        constraint = task.constraint(params, info, max_objects=settings.max_objects, images=images)
        return prompt, task.schema(params), constraint
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{task.label}: its prompt cannot be built ({exc!r})") from exc


def _framed(
    task: Task, params: dict[str, Any], info: ModelInfo, ref: ImageRef, capabilities: Capabilities
) -> tuple[str, str | None]:
    """A ``uses_frame`` task's prompt and system message for one image, as the model will see it."""
    seen = capabilities.input_size(ref) if capabilities.input_size is not None else None
    frame = Frame(ref.size, seen, info)
    try:
        prompt = _text(task, task.prompt_for(params, frame))
        system = task.system_for(params, frame)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{task.label}: its prompt cannot be built ({exc!r})") from exc
    return prompt, _system(task, system)


def _own_system(task: Task, params: dict[str, Any]) -> str | None:
    """The system message of a task whose messages do not depend on the image."""
    try:
        system = task.system(params)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{task.label}: its system message cannot be built ({exc!r})") from exc
    return _system(task, system)


def _system(task: Task, system: Any) -> str | None:
    """A task's system message, checked (``None``: the model's default)."""
    if system is not None and not isinstance(system, str):
        raise ConfigurationError(f"task {task.name!r}: system() must return a string or None, got {system!r}")
    return system or None


def _text(task: Task, prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError(
            f"task {task.name!r}: prompt() must return a non-empty string, got {prompt!r}"
        )
    return prompt


def schema_param(schema: Any, output_structure: Any) -> dict[str, Any]:
    if schema is not None and output_structure is not None:
        raise ConfigurationError("extract takes schema= or output_structure= (the same thing), not both")
    return {"schema": schema if schema is not None else output_structure}


class ClientCore:
    """State and logic shared by the sync and async clients."""

    _backend: Backend

    def __init__(
        self,
        model: str | None = None,
        *,
        backend: str | Backend = "local",
        api_key: str | None = None,
        base_url: str | None = None,
        privacy: Privacy | None = None,
        max_concurrent_requests: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        device: str | None = None,
        dtype: str | None = None,
        family: Family | None = None,
        max_tokens: int | None = None,
        constrained: bool = True,
        cache: str | os.PathLike[str] | None = None,
        cache_sampled: bool = False,
        **backend_options: Any,
    ) -> None:
        self._default_max_tokens = check_int("max_tokens", max_tokens)
        self._constrained = bool(check_bool("constrained", constrained, optional=False))
        self._cache_sampled = bool(check_bool("cache_sampled", cache_sampled, optional=False))
        self._store = open_store(cache) if cache is not None else None
        model = check_path_or_str("model", model)
        check_choice("family", family, tuple(FAMILIES))
        check_choice("privacy", privacy, ("allow", "deny", "zdr"))
        check_int("max_concurrent_requests", max_concurrent_requests)
        check_number("timeout", timeout, exclusive_minimum=True)
        check_int("max_retries", max_retries, minimum=0)
        check_str("api_key", api_key)
        check_url("base_url", base_url)
        check_str("device", device)
        check_str("dtype", dtype)
        if not isinstance(backend, str):
            if not isinstance(backend, Backend):
                raise ConfigurationError(
                    f"backend must be 'local', 'openrouter', 'openai' or a Backend object, got {backend!r}"
                )
            given = {k: v for k, v in (("model", model), ("api_key", api_key), ("base_url", base_url)) if v}
            if given or backend_options:
                raise ConfigurationError(
                    f"options {sorted([*given, *backend_options])} do not apply when a Backend object "
                    "is passed; configure the backend itself"
                )
            self._backend = backend
            return
        options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "privacy": privacy,
            "max_concurrent_requests": max_concurrent_requests,
            "timeout": timeout,
            "max_retries": max_retries,
            "device": device,
            "dtype": dtype,
            "family": family,
        }
        options = {k: v for k, v in options.items() if v is not None}
        options.update(backend_options)
        self._backend = create_backend(backend, model, **options)

    # ------------------------------------------------------------------ properties
    @property
    def backend(self) -> Backend:
        """The backend serving this client."""
        return self._backend

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do (URLs, groups, streaming, confidences...)."""
        return capabilities_of(self._backend)

    @property
    def model(self) -> str:
        """The model id."""
        return self._backend.info.id

    @property
    def info(self) -> ModelInfo:
        """What the SDK knows about the model (family, coordinates, thinking support)."""
        return self._backend.info

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, backend={type(self._backend).__name__})"

    # ------------------------------------------------------------------ planning
    def _settings(self, task: str | Task, params: dict[str, Any], options: CallOptions) -> Settings:
        """Every check of a call that needs no image (see :func:`qwen_vlm.engine.settings.call_settings`)."""
        return call_settings(self._backend, task, params, options, self._constrained, self._store)

    def _windowed(
        self, task: str | Task, images: Any, params: dict[str, Any], options: CallOptions
    ) -> Windowed | None:
        """A call with ``window=`` or ``refine=True`` planned over its videos' windows (else ``None``)."""
        found = get_task(task)
        settings, rest = window_settings(found, options)
        if settings is None:
            return None
        checked = self._settings(found, params, rest).params
        single = is_single_input(images)
        items = [images] if single else list(images) if isinstance(images, (list, tuple)) else [images]
        return plan_windows(found, checked, items, single, settings, rest)

    def _plan(self, task: str | Task, images: Any, params: dict[str, Any], options: CallOptions) -> Plan:
        settings = self._settings(task, params, options)
        found, checked, strict = settings.task, settings.params, settings.strict
        info = self._backend.info
        capabilities = capabilities_of(self._backend)
        inputs = read_inputs(images, found, capabilities, strict=strict, budget=video_budget(info))
        refs, members = inputs.refs, inputs.members
        shapes = {n: _shape(found, checked, info, settings, n) for n in {len(group) for group in members}}
        thinking_on = (
            settings.enable_thinking if settings.enable_thinking is not None else info.thinking_default
        )
        budget = (
            settings.max_tokens
            or self._default_max_tokens
            or (max(found.max_tokens, THINKING_MAX_TOKENS) if thinking_on else found.max_tokens)
        )
        scoring = found.scoring(checked)
        system = None if found.uses_frame else _own_system(found, checked)
        positions = [i for i, ref in enumerate(refs) if ref.error is None]
        texts = {
            i: (
                _framed(found, checked, info, refs[i], capabilities)
                if found.uses_frame
                else (shapes[len(members[i])][0], system)
            )
            for i in positions
        }
        requests = [
            GenerationRequest(
                image=refs[i],
                prompt=texts[i][0],
                max_tokens=budget,
                temperature=settings.temperature,
                enable_thinking=settings.enable_thinking,
                json_schema=shapes[len(members[i])][1],
                needs_geometry=found.needs_geometry,
                task=found.name,
                constraint=_for_clip(shapes[len(members[i])][2], refs[i].clip),
                scoring=scoring,
                more_images=tuple(members[i][1:]),
                video=refs[i].clip,
                system=texts[i][1],
                stop_on_repetition=found.stop_on_repetition,
            )
            for i in positions
        ]
        return Plan(
            found,
            checked,
            inputs.items,
            refs,
            requests,
            positions,
            inputs.single,
            strict,
            settings.progress,
            budget,
            members,
            settings.min_confidence,
            store=settings.cache,
        )

    def _stream_args(self, image: Any, params: dict[str, Any]) -> tuple[dict[str, Any], CallOptions]:
        """A streamed call's task parameters and options, once the image and backend are fit for it."""
        if not is_single_input(image):
            raise ConfigurationError(
                f"stream takes one image (got {type(image).__name__}); stream each image of a list in turn"
            )
        capabilities = capabilities_of(self._backend)
        if capabilities.stream is None and capabilities.astream is None:
            raise _cannot_stream(self._backend)
        params = dict(params)
        options = {k: params.pop(k) for k in list(params) if k in CallOptions.__annotations__}
        return params, options  # type: ignore[return-value]

    def _stream_plan(
        self, task: str | Task, image: Any, params: dict[str, Any]
    ) -> tuple[Plan, GenerationRequest]:
        """Plan a streamed call: one image (a list is refused), every check as for a normal call."""
        params, options = self._stream_args(image, params)
        plan = self._plan(task, image, params, options)
        return plan, plan.requests[0]

    def _check_stream_call(self, task: str | Task, image: Any, params: dict[str, Any]) -> None:
        """The checks of a streamed call that need no image (the async client runs them at the call)."""
        params, options = self._stream_args(image, params)
        self._settings(task, params, options)

    def _streamer(self) -> Any:
        stream = capabilities_of(self._backend).stream
        if stream is None:
            raise _cannot_stream(self._backend)
        return stream

    @property
    def store(self) -> ResultStore | None:
        """The client's result store (``cache=``), or ``None``."""
        return self._store

    def _stored(self, plan: Plan) -> StoredCall | None:
        """The call's stored results found and its plan reduced to the rest (``None`` without a store)."""
        if plan.store is None or not plan.requests:
            return None
        from ..store import StoredCall

        return StoredCall(plan.store, plan, self._backend, self._cache_sampled)

    def _stream_stored(self, plan: Plan) -> tuple[Plan, list[StreamChunk] | None]:
        """A streamed call through the store: the stored answer replayed as chunks, or ``None`` to send.

        Returns the plan to finish with (its store writes the streamed result when it ends).
        """
        stored = self._stored(plan)
        if stored is None:
            return plan, None
        if not stored.lookup([0]):
            return stored.plan, None
        result = stored.plan.known[stored.plan.positions[0]]
        replay = [StreamChunk(thinking=result.thinking)] if result.thinking else []
        replay += [StreamChunk(text=result.text), StreamChunk(response=GenerationResponse(text=result.text))]
        return dataclasses.replace(stored.plan, on_settled=None), replay

    def _finish_stream(self, plan: Plan, response: GenerationResponse) -> Any:
        """A streamed call's result: stored first when the call has a store and it was sent."""
        if plan.on_settled is not None:
            plan.on_settled([0], [response])
        return self._finish(plan, [response])

    # ------------------------------------------------------------------ results
    _settle = staticmethod(settle)
    _failed = staticmethod(failed)

    def _finish(self, plan: Plan, responses: list[GenerationResponse]) -> Any:
        return finish(self._backend.info, plan, responses)
