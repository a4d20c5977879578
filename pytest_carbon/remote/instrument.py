"""Observe the calls an LLM SDK makes, without changing what it returns.

Installed by hooks.py once the code under test imports an SDK; imports wrapt then (the
SDK is being imported anyway). Each finished call appends one `RemoteCall` to the active
log; nothing is computed here.

- OpenAI and Anthropic (Stainless SDKs): every answer passes `_process_response` (chat
  completions, Responses, Messages, `parse`, sync and async) and every stream is read
  through `Stream.__stream__` / `AsyncStream.__stream__` (`create(stream=True)` and the
  `.stream()` helpers alike); both see the HTTP response.
- Mistral (`mistralai.client`): `Chat.complete` / `complete_async`, and its event streams.
- httpx and httpx2 `send` (once Mistral's SDK is imported): inside a wrapped call, keep
  the last response (URL, and whether it came from the network or from a cassette or mock).

A response that did not come over a network connection (no `network_stream` in its
extensions: a vcrpy cassette, respx, httpx MockTransport) is marked replayed.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from time import perf_counter
from types import ModuleType
from typing import Any

from pytest_carbon.remote import hooks
from pytest_carbon.remote.calls import CallLog, RemoteCall

MARK = "_pytest_carbon_llm_instrumented"
ACTIVE: list[CallLog] = []  # the logs of running sessions; the innermost (a pytester run inside a run) records


class _Scope:
    """A call in progress: the last HTTP response its SDK received."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: Any = None


_SCOPE: ContextVar[_Scope | None] = ContextVar("pytest_carbon_llm_call", default=None)


def _active() -> CallLog | None:
    return ACTIVE[-1] if ACTIVE else None


# -- what a response says ----------------------------------------------------------------


def _url(response: Any) -> str:
    try:
        url = response.request.url
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}{url.path}"
    except Exception:
        return ""


def _replayed(response: Any) -> bool:
    if response is None:
        return False
    extensions = getattr(response, "extensions", None)
    return not (isinstance(extensions, dict) and "network_stream" in extensions)


def _latency(response: Any, started: float) -> float:
    try:
        return float(response.elapsed.total_seconds())
    except Exception:  # not closed yet, or not an httpx response
        return perf_counter() - started


def _output_tokens(usage: Any) -> int | None:
    for name in ("output_tokens", "completion_tokens"):
        value = getattr(usage, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _model(obj: Any) -> str | None:
    model = getattr(obj, "model", None)
    return model if isinstance(model, str) and model else None


def _record(
    log: CallLog, position: int, provider: str, response: Any, model: str, tokens: int | None, latency: float
) -> None:
    log.add(RemoteCall(position, provider, _url(response), model, tokens, latency, _replayed(response)))


class _Tally:
    """What a stream's items say: the model, the output tokens the API reported (the last
    figure wins: Anthropic's and OpenAI's usage events are cumulative), and the chunks
    that carried text (EcoLogits' stand-in for tokens when no usage is sent)."""

    __slots__ = ("model", "reported", "chunks")

    def __init__(self) -> None:
        self.model: str | None = None
        self.reported: int | None = None
        self.chunks = 0

    def see(self, item: Any) -> None:
        for part in (
            item,
            getattr(item, "data", None),
            getattr(item, "message", None),
            getattr(item, "response", None),
        ):
            if part is None:
                continue
            model = _model(part)
            if model is not None:
                self.model = model
            tokens = _output_tokens(getattr(part, "usage", None))
            if tokens is not None:
                self.reported = tokens
            choices = getattr(part, "choices", None)
            if choices:
                delta = getattr(choices[0], "delta", None)
                if getattr(delta, "content", None):
                    self.chunks += 1
        if getattr(item, "type", None) in ("content_block_delta", "response.output_text.delta"):
            self.chunks += 1

    @property
    def tokens(self) -> int:
        return self.reported if self.reported is not None else self.chunks


def _observe(
    log: CallLog, position: int, provider: str, response: Any, items: Iterator[Any], requested: str
) -> Iterator[Any]:
    tally = _Tally()
    started = perf_counter()
    try:
        for item in items:
            tally.see(item)
            yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
        _record(log, position, provider, response, tally.model or requested, tally.tokens, _latency(response, started))


async def _observe_async(
    log: CallLog, position: int, provider: str, response: Any, items: AsyncIterator[Any], requested: str
) -> AsyncIterator[Any]:
    tally = _Tally()
    started = perf_counter()
    try:
        async for item in items:
            tally.see(item)
            yield item
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()
        _record(log, position, provider, response, tally.model or requested, tally.tokens, _latency(response, started))


def _requested_model(options: Any) -> str:
    body = getattr(options, "json_data", None)
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else "unknown"


# -- Stainless SDKs (openai, anthropic) --------------------------------------------------

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _answer(provider: str, stream_types: tuple[type, ...]) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        log = _active()
        if log is None:
            return wrapped(*args, **kwargs)
        position = log.position()
        started = perf_counter()
        result = wrapped(*args, **kwargs)
        _answered(log, position, provider, kwargs, result, stream_types, started)
        return result

    return wrapper


def _answer_async(provider: str, stream_types: tuple[type, ...]) -> Wrapper:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        log = _active()
        if log is None:
            return await wrapped(*args, **kwargs)
        position = log.position()
        started = perf_counter()
        result = await wrapped(*args, **kwargs)
        _answered(log, position, provider, kwargs, result, stream_types, started)
        return result

    return wrapper


def _answered(
    log: CallLog,
    position: int,
    provider: str,
    kwargs: dict[str, Any],
    result: Any,
    stream_types: tuple[type, ...],
    started: float,
) -> None:
    if isinstance(result, stream_types):
        return  # read through __stream__
    tokens = _output_tokens(getattr(result, "usage", None))
    if tokens is None:
        return  # not a generation (embeddings, listings) or a raw response
    response = kwargs.get("response")
    model = _model(result) or _requested_model(kwargs.get("options"))
    _record(log, position, provider, response, model, tokens, _latency(response, started))


def _stream(provider: str, observe: Callable[..., Any]) -> Wrapper:
    """`Stream.__stream__` (observe: _observe) or `AsyncStream.__stream__` (_observe_async)."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        log = _active()
        items = wrapped(*args, **kwargs)
        if log is None:
            return items
        requested = _requested_model(getattr(instance, "_options", None))
        return observe(log, log.position(), provider, getattr(instance, "response", None), items, requested)

    return wrapper


def _stainless(package: str, provider: str) -> Callable[[ModuleType], None]:
    def instrument(module: ModuleType) -> None:
        if getattr(module, MARK, False):
            return
        from wrapt import wrap_function_wrapper

        base = importlib.import_module(f"{package}._base_client")
        streaming = importlib.import_module(f"{package}._streaming")
        streams = (streaming.Stream, streaming.AsyncStream)
        wrap_function_wrapper(base, "SyncAPIClient._process_response", _answer(provider, streams))
        wrap_function_wrapper(base, "AsyncAPIClient._process_response", _answer_async(provider, streams))
        wrap_function_wrapper(streaming, "Stream.__stream__", _stream(provider, _observe))
        wrap_function_wrapper(streaming, "AsyncStream.__stream__", _stream(provider, _observe_async))
        setattr(module, MARK, True)

    return instrument


# -- Mistral (mistralai.client) ----------------------------------------------------------


def _scoped(provider: str) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        log = _active()
        if log is None:
            return wrapped(*args, **kwargs)
        position = log.position()
        scope = _Scope()
        token = _SCOPE.set(scope)
        started = perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        finally:
            _SCOPE.reset(token)
        _answered(log, position, provider, {"response": scope.response}, result, (), started)
        return result

    return wrapper


def _scoped_async(provider: str) -> Wrapper:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        log = _active()
        if log is None:
            return await wrapped(*args, **kwargs)
        position = log.position()
        scope = _Scope()
        token = _SCOPE.set(scope)
        started = perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        finally:
            _SCOPE.reset(token)
        _answered(log, position, provider, {"response": scope.response}, result, (), started)
        return result

    return wrapper


def _event_stream(provider: str, observe: Callable[..., Any]) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        log = _active()
        items = wrapped(*args, **kwargs)
        if log is None:
            return items
        response = args[0] if args else kwargs.get("response")
        return observe(log, log.position(), provider, response, items, "unknown")

    return wrapper


def _mistral(module: ModuleType) -> None:
    if getattr(module, MARK, False):
        return
    from wrapt import wrap_function_wrapper

    chat = importlib.import_module("mistralai.client.chat")
    events = importlib.import_module("mistralai.client.utils.eventstreaming")
    wrap_function_wrapper(chat, "Chat.complete", _scoped("mistralai"))
    wrap_function_wrapper(chat, "Chat.complete_async", _scoped_async("mistralai"))
    wrap_function_wrapper(events, "stream_events", _event_stream("mistralai", _observe))
    wrap_function_wrapper(events, "stream_events_async", _event_stream("mistralai", _observe_async))
    setattr(module, MARK, True)
    # Its answers are read from the HTTP client's last response (imported by now).
    hooks.when_imported({"httpx": _http, "httpx2": _http})


# -- httpx, httpx2: the response a scoped call received ----------------------------------


def _send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    scope = _SCOPE.get()
    response = wrapped(*args, **kwargs)
    if scope is not None:
        scope.response = response
    return response


async def _send_async(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    scope = _SCOPE.get()
    response = await wrapped(*args, **kwargs)
    if scope is not None:
        scope.response = response
    return response


def _http(module: ModuleType) -> None:
    if getattr(module, MARK, False):
        return
    from wrapt import wrap_function_wrapper

    wrap_function_wrapper(module, "Client.send", _send)
    wrap_function_wrapper(module, "AsyncClient.send", _send_async)
    setattr(module, MARK, True)


HOOKS: dict[str, Callable[[ModuleType], None]] = {
    "openai": _stainless("openai", "openai"),
    "anthropic": _stainless("anthropic", "anthropic"),
    "mistralai.client": _mistral,
}
