"""X-Ray traces with Powertools Tracer: one segment per request, subsegments for the LiteLLM
call and for every AWS call (DynamoDB, GetPrompt, Secrets Manager: botocore is patched, by
``trace_aws_calls``, just before the first client is made: the patch imports botocore's client,
~150 ms that a cold start of a function whose requests never reach AWS need not pay).

Tracing is on where there is somewhere to send segments: in Lambda with active tracing, or
wherever ``AWS_XRAY_DAEMON_ADDRESS`` is set (``make dev`` points it at a local collector);
``POWERTOOLS_TRACE_DISABLED=true`` turns it off. aws-xray-sdk is heavy to import, so it is
imported when an app is built with tracing on (``prepare``: Lambda's init), never without.

In Lambda the request's segment is Lambda's own (a facade we may not change), and the request
becomes its ``## <service>`` subsegment. Under the Lambda Web Adapter the app is not the
runtime process, so ``_X_AMZN_TRACE_ID`` is never set for it: the invocation's trace header
arrives as the ``x-amzn-trace-id`` request header instead. Locally the request opens a real
segment. Entities live in a ContextVar, not thread-locals: one event loop serves many
requests at once, and worker threads (``run_in_threadpool``) inherit the request's context.

The request's entity and the LiteLLM call's subsegment are made when they are needed, not when
the request arrives: at the end, after the answer's last byte, unless an AWS call needs its parent
earlier. Their start times are the request's and the call's own. Made at the start, they cost
~0.1 ms of X-Ray bookkeeping on every request's way to LiteLLM (2026-12-01, README: Performance).
"""

from __future__ import annotations

import os
import threading
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from gateway_core.settings import flag

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = ["RequestTrace", "Span", "begin_request", "enabled", "prepare", "start_span", "trace_aws_calls"]

_IN_LAMBDA = bool(os.environ.get("LAMBDA_TASK_ROOT"))


_enabled = not flag(os.environ.get("POWERTOOLS_TRACE_DISABLED")) and (
    _IN_LAMBDA or bool(os.environ.get("AWS_XRAY_DAEMON_ADDRESS"))
)
_tracer: Tracer | None = None


def enabled() -> bool:
    return _enabled


class _RequestEntities:
    """One request's X-Ray entities: a stack its tasks and worker threads share (each gets a copy
    of the request's context, holding this same object), and the request's trace."""

    __slots__ = ("stack", "trace")

    def __init__(self, trace: RequestTrace | None) -> None:
        self.stack: list[Any] = []
        self.trace = trace


_request: ContextVar[_RequestEntities | None] = ContextVar("gateway_xray_request", default=None)


def _entities() -> _RequestEntities:
    entities = _request.get()
    if entities is None:
        entities = _RequestEntities(None)
        _request.set(entities)
    return entities


def _request_context() -> Any:
    """An X-Ray context whose entities follow the request (asyncio tasks and worker threads)."""
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.models.dummy_entities import DummySegment

    class RequestContext(Context):  # type: ignore[misc]
        def put_segment(self, segment: Any) -> None:
            _entities().stack[:] = [segment]

        def set_trace_entity(self, trace_entity: Any) -> None:
            _entities().stack[:] = [trace_entity]

        def clear_trace_entities(self) -> None:
            entities = _request.get()
            if entities is not None:
                entities.stack.clear()

        def put_subsegment(self, subsegment: Any) -> None:
            entity = self.get_trace_entity()
            entities = _request.get()
            if entity is None or entities is None or not entities.stack:
                return  # no request open: an AWS call at import or start-up is not traced
            entity.add_subsegment(subsegment)
            entities.stack.append(subsegment)

        def end_subsegment(self, end_time: float | None = None) -> bool:
            entity = self.get_trace_entity()
            entities = _request.get()
            if entities and entities.stack and self._is_subsegment(entity):
                entity.close(end_time)
                entities.stack.pop()
                return True
            return False

        def get_trace_entity(self) -> Any:
            entities = _request.get()
            if entities is not None and not entities.stack and entities.trace is not None:
                entities.trace.entity()  # an AWS call needs the request's entity before its end
            if entities is None or not entities.stack:
                if not global_sdk_config.sdk_enabled():
                    return DummySegment()
                return self.handle_context_missing()
            return entities.stack[-1]

    return RequestContext(context_missing="IGNORE_ERROR")


def _get_tracer(service: str) -> Tracer:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        tracer = Tracer(service=service, disabled=False, auto_patch=False)
        recorder: Any = tracer.provider  # aws_xray_sdk's recorder
        recorder.configure(context=_request_context(), sampling=False, service=service)
        _tracer = tracer
    return _tracer


_aws_patch_lock = threading.Lock()


def trace_aws_calls() -> None:
    """Trace every botocore call from now on (DynamoDB for history, bedrock-agent's GetPrompt,
    Secrets Manager), when tracing is on. Called before a module makes its first AWS client; the
    patch is on botocore's client class, so clients made before it are traced too. The SDK skips
    a module it already patched, but without a lock, and the first clients are made in worker
    threads."""
    if _tracer is None:
        return
    from aws_xray_sdk.core import patch

    with _aws_patch_lock:
        patch(["botocore"])


def prepare(service: str) -> None:
    """Load the X-Ray SDK now (at init, when tracing is on), not on the first request."""
    if _enabled:
        _get_tracer(service)


class Span:
    """A subsegment of the request (the LiteLLM call), made when it ends: it may end in another task
    than the one that began it (a stream's call ends in the task that relays the body)."""

    __slots__ = ("_ended", "_failed", "_http", "_name", "_namespace", "_started", "_trace")

    def __init__(self, trace: RequestTrace, name: str, namespace: str) -> None:
        self._trace, self._name, self._namespace = trace, name, namespace
        self._started = time.time()
        self._http: dict[str, str | int] = {}
        self._failed = self._ended = False

    def http(self, method: str, url: str, status: int | None = None) -> None:
        self._http.update(method=method, url=url)
        if status is not None:
            self._http["status"] = status

    def fail(self) -> None:
        self._failed = True

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        parent = self._trace.entity()
        if parent is None or not parent.in_progress:
            return
        from aws_xray_sdk.core.models.subsegment import Subsegment

        subsegment = Subsegment(self._name, self._namespace, getattr(parent, "parent_segment", parent))
        subsegment.start_time = self._started
        parent.add_subsegment(subsegment)
        for key, value in self._http.items():
            subsegment.put_http_meta(key, value)
        if self._failed:
            subsegment.add_fault_flag()
        subsegment.close()


def start_span(name: str, namespace: str = "remote") -> Span | None:
    """A child of the current request's entity, or None (tracing off, no request, not sampled)."""
    if _tracer is None:
        return None
    entities = _request.get()
    trace = entities.trace if entities is not None else None
    if trace is None or not trace.sampled:
        return None
    return Span(trace, name, namespace)


class RequestTrace:
    """The request's own entity: a segment locally, a ``## service`` subsegment in Lambda; made by
    ``entity()`` when first needed, with the request's start time."""

    __slots__ = ("_entity", "_header", "_lambda", "_made", "_recorder", "_service", "_started", "sampled")

    def __init__(self, recorder: Any, service: str, header: Any, in_lambda: bool) -> None:
        self._recorder, self._service, self._header, self._lambda = recorder, service, header, in_lambda
        self._started = time.time()
        self._entity: Any = None
        self._made = False
        # In Lambda the trace header decides; locally every request is sampled unless told not to
        # be (the recorder's own sampling is off: ``_get_tracer``).
        self.sampled = header.sampled == 1 if in_lambda else header.sampled != 0

    def entity(self) -> Any:
        """The X-Ray entity, made on the first call (None if the SDK would not open one)."""
        if self._made:
            return self._entity
        self._made = True
        recorder, header = self._recorder, self._header
        if self._lambda:
            from aws_xray_sdk.core.models.facade_segment import FacadeSegment

            facade = FacadeSegment("facade", entityid=header.parent, traceid=header.root, sampled=self.sampled)
            recorder.context.set_trace_entity(facade)
            entity = recorder.begin_subsegment(f"## {self._service}")
        else:
            recorder.context.clear_trace_entities()
            entity = recorder.begin_segment(
                self._service, traceid=header.root, parent_id=header.parent, sampling=None if self.sampled else 0
            )
        if entity is not None:
            entity.start_time = self._started
        self._entity = entity
        return entity

    @property
    def trace_id(self) -> str:
        if not self._made and not self.sampled and self._header.root:
            return str(self._header.root)  # nothing will be sent: no entity to make
        entity = self.entity()
        return str(entity.trace_id) if entity is not None else str(self._header.root)

    def finish(self, method: str, path: str, status: int, annotations: dict[str, str | int | float | bool]) -> None:
        if not self._made and not self.sampled:
            return  # unsampled, and no AWS call made its entity: nothing to send or close
        entity = self.entity()
        if entity is None:
            return
        if entity.sampled:
            entity.put_http_meta("method", method)
            entity.put_http_meta("url", path)
            entity.put_http_meta("status", status)  # also sets the fault / error / throttle flags
            for key, value in annotations.items():
                entity.put_annotation(key, value)
        if self._lambda:
            self._recorder.end_subsegment()
        else:
            self._recorder.end_segment()


def begin_request(service: str, method: str, header: str | None, from_runtime: bool) -> RequestTrace | None:
    """The request's trace (its entity is made later: ``RequestTrace``); ``header`` is the
    request's ``x-amzn-trace-id``, and ``from_runtime`` says the Lambda runtime set
    ``_X_AMZN_TRACE_ID`` itself (mangum)."""
    if not _enabled:
        return None
    from aws_xray_sdk.core.models.trace_header import TraceHeader

    recorder: Any = _get_tracer(service).provider
    if _IN_LAMBDA:
        trace_header = TraceHeader.from_header_str(os.environ.get("_X_AMZN_TRACE_ID") if from_runtime else header)
        if not (trace_header.root and trace_header.parent and trace_header.sampled is not None):
            return None
    else:
        trace_header = TraceHeader.from_header_str(header)
    trace = RequestTrace(recorder, service, trace_header, in_lambda=_IN_LAMBDA)
    _request.set(_RequestEntities(trace))
    return trace
