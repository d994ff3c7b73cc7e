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
"""

from __future__ import annotations

import os
import threading
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


def _request_context() -> Any:
    """An X-Ray context whose entities follow the request (asyncio tasks and worker threads)."""
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.models.dummy_entities import DummySegment

    entities: ContextVar[list[Any] | None] = ContextVar("gateway_xray_entities", default=None)

    class RequestContext(Context):  # type: ignore[misc]
        def put_segment(self, segment: Any) -> None:
            entities.set([segment])

        def set_trace_entity(self, trace_entity: Any) -> None:
            entities.set([trace_entity])

        def clear_trace_entities(self) -> None:
            entities.set(None)

        def put_subsegment(self, subsegment: Any) -> None:
            entity = self.get_trace_entity()
            stack = entities.get()
            if entity is None or stack is None:
                return  # no request open: an AWS call at import or start-up is not traced
            entity.add_subsegment(subsegment)
            stack.append(subsegment)

        def end_subsegment(self, end_time: float | None = None) -> bool:
            entity = self.get_trace_entity()
            stack = entities.get()
            if stack and self._is_subsegment(entity):
                entity.close(end_time)
                stack.pop()
                return True
            return False

        def get_trace_entity(self) -> Any:
            stack = entities.get()
            if not stack:
                if not global_sdk_config.sdk_enabled():
                    return DummySegment()
                return self.handle_context_missing()
            return stack[-1]

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
    """A subsegment that may end in another task than the one that began it (a stream's
    LiteLLM call ends in the task that relays the body), so it is kept off the context stack."""

    __slots__ = ("_subsegment",)

    def __init__(self, subsegment: Any) -> None:
        self._subsegment = subsegment

    def http(self, method: str, url: str, status: int | None = None) -> None:
        self._subsegment.put_http_meta("method", method)
        self._subsegment.put_http_meta("url", url)
        if status is not None:
            self._subsegment.put_http_meta("status", status)

    def fail(self) -> None:
        self._subsegment.add_fault_flag()

    def end(self) -> None:
        if self._subsegment.in_progress:
            self._subsegment.close()


def start_span(name: str, namespace: str = "remote") -> Span | None:
    """A child of the current request's entity, or None (tracing off, no request, not sampled)."""
    if _tracer is None:
        return None
    from aws_xray_sdk.core.models.subsegment import Subsegment

    recorder: Any = _tracer.provider
    parent = recorder.context.get_trace_entity()
    if parent is None or not getattr(parent, "sampled", False):
        return None
    segment = parent.parent_segment if recorder._is_subsegment(parent) else parent
    subsegment = Subsegment(name, namespace, segment)
    parent.add_subsegment(subsegment)  # counts it as open on the segment until it closes
    return Span(subsegment)


class RequestTrace:
    """The request's own entity: a segment locally, a ``## service`` subsegment in Lambda."""

    __slots__ = ("_entity", "_recorder", "_lambda")

    def __init__(self, recorder: Any, entity: Any, in_lambda: bool) -> None:
        self._recorder, self._entity, self._lambda = recorder, entity, in_lambda

    @property
    def trace_id(self) -> str:
        return str(self._entity.trace_id)

    def finish(self, method: str, path: str, status: int, annotations: dict[str, str | int | float | bool]) -> None:
        entity = self._entity
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
    """Open the request's trace entity; ``header`` is the request's ``x-amzn-trace-id``, and
    ``from_runtime`` says the Lambda runtime set ``_X_AMZN_TRACE_ID`` itself (mangum)."""
    if not _enabled:
        return None
    from aws_xray_sdk.core.models.facade_segment import FacadeSegment
    from aws_xray_sdk.core.models.trace_header import TraceHeader

    recorder: Any = _get_tracer(service).provider
    if _IN_LAMBDA:
        raw = os.environ.get("_X_AMZN_TRACE_ID") if from_runtime else header
        trace = TraceHeader.from_header_str(raw)
        if not (trace.root and trace.parent and trace.sampled is not None):
            return None
        facade = FacadeSegment("facade", entityid=trace.parent, traceid=trace.root, sampled=trace.sampled == 1)
        recorder.context.set_trace_entity(facade)
        entity = recorder.begin_subsegment(f"## {service}")
        if entity is None:
            return None
        return RequestTrace(recorder, entity, in_lambda=True)
    trace = TraceHeader.from_header_str(header)
    recorder.context.clear_trace_entities()
    segment = recorder.begin_segment(
        service, traceid=trace.root, parent_id=trace.parent, sampling=0 if trace.sampled == 0 else None
    )
    return RequestTrace(recorder, segment, in_lambda=False)
