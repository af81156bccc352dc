"""OpenTelemetry for streamed chats: a span and GenAI metrics per streamed request.

The ``otel`` extra (``pip install 'streamkit-llm[otel]'``); this is the only module that
imports OpenTelemetry, and it needs only its API: the application sets up the SDK and
exporters as usual. ``trace_chat(body, format=...)`` is an operator: each subscription (one
streamed request, retries included) becomes one ``CLIENT`` span named ``chat {model}``,
following the OpenTelemetry GenAI semantic conventions:

- at the start: ``gen_ai.operation.name`` (``chat``), ``gen_ai.system`` and
  ``gen_ai.provider.name`` (``openai`` / ``anthropic``), ``gen_ai.request.model``,
  ``gen_ai.request.max_tokens`` / ``temperature`` / ``top_p`` when the body sets them,
  ``server.address`` / ``server.port`` when a URL is given;
- as the answer arrives: ``gen_ai.response.id``, ``gen_ai.response.model``,
  ``gen_ai.response.time_to_first_chunk`` (seconds from the subscription),
  ``gen_ai.usage.input_tokens`` / ``gen_ai.usage.output_tokens`` (the server's report),
  ``gen_ai.response.finish_reasons``;
- each retry is a span event ``gen_ai.retry`` (attempt, delay, ``error.type``, whether the
  partial answer is continued), a ``Rewind`` an event ``gen_ai.rewind``;
- a failure sets the span's status to ``ERROR`` with ``error.type``; a disposal before the end
  ends the span with ``error.type`` ``cancelled``.

Metrics, from the same conventions: ``gen_ai.client.operation.duration`` (s),
``gen_ai.client.token.usage`` ({token}, by ``gen_ai.token.type``) and
``gen_ai.client.operation.time_to_first_chunk`` (s). Prompts and answers are never recorded,
nor any header.

Example::

    from streamkit.otel import trace_chat

    events = sk.stream_chat(url, body).pipe(trace_chat(body, format="openai", url=url))
    message = await sk.ChatStream(events)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from streamkit.events import (
    Finish,
    Retrying,
    Rewind,
    StreamEvent,
    StreamStart,
    Usage,
)
from streamkit.extras import missing_extra
from streamkit.operators.base import Operator

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("otel", "streamkit.otel needs OpenTelemetry") from exc

__all__ = ["INSTRUMENTATION_NAME", "trace_chat"]

#: The instrumentation scope of the spans and metrics.
INSTRUMENTATION_NAME = "streamkit"

# The bucket boundaries the conventions recommend for these histograms.
_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
)  # fmt: skip
_TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864
)  # fmt: skip


class _Instruments:
    def __init__(self, meter_provider: metrics.MeterProvider | None) -> None:
        meter = metrics.get_meter(INSTRUMENTATION_NAME, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(_TOKEN_BUCKETS),
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )


def _request_attributes(body: Mapping[str, Any], format: str, url: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": format,
        "gen_ai.provider.name": format,
    }
    if isinstance(body.get("model"), str):
        attributes["gen_ai.request.model"] = body["model"]
    for key, name in (
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("max_completion_tokens", "gen_ai.request.max_tokens"),
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
    ):
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    if url is not None:
        parts = urlsplit(url)
        if parts.hostname:
            attributes["server.address"] = parts.hostname
            attributes["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
    return attributes


def trace_chat(
    body: Mapping[str, Any],
    *,
    format: str = "openai",
    url: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> Operator[StreamEvent, StreamEvent]:
    """Trace each subscription of a chat stream as one GenAI span, with the GenAI metrics.

    Events, errors and completion pass unchanged. The span is the current span while the
    request is being made, so an instrumented HTTP client nests its own spans under it.

    Args:
        body: the request body (only ``model``, ``max_tokens``, ``temperature``, ``top_p`` are
            read; the messages never are).
        format: the provider, for ``gen_ai.system`` (``openai``, ``anthropic``, ...).
        url: the endpoint, for ``server.address`` and ``server.port`` (credentials in it are
            never recorded: only the host and port are).
        tracer_provider: where spans go; the global one by default.
        meter_provider: where metrics go; the global one by default.

    Returns:
        The operator.

    Example:
        >>> events.pipe(trace_chat(body, format="anthropic"))  # doctest: +SKIP
    """
    tracer = trace.get_tracer(INSTRUMENTATION_NAME, tracer_provider=tracer_provider)
    instruments = _Instruments(meter_provider)
    start_attributes = _request_attributes(body, format, url)
    model = start_attributes.get("gen_ai.request.model", "")
    span_name = f"chat {model}".strip()
    # The metrics' attributes: the low-cardinality subset the conventions name.
    metric_base = {
        key: value
        for key, value in start_attributes.items()
        if key
        in (
            "gen_ai.operation.name",
            "gen_ai.system",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "server.address",
            "server.port",
        )
    }

    def operator(source: Observable[StreamEvent]) -> Observable[StreamEvent]:
        def subscribe(
            observer: abc.ObserverBase[StreamEvent], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            started = time.monotonic()
            span = tracer.start_span(span_name, kind=SpanKind.CLIENT, attributes=start_attributes)
            state: dict[str, Any] = {"ended": False, "first": None, "usage": None}
            reasons: list[str] = []
            metric_attributes = dict(metric_base)

            def finish(error: BaseException | None, *, cancelled: bool = False) -> None:
                if state["ended"]:
                    return
                state["ended"] = True
                duration = time.monotonic() - started
                usage: Usage | None = state["usage"]
                if reasons:
                    span.set_attribute("gen_ai.response.finish_reasons", reasons)
                if cancelled:
                    span.set_attribute("error.type", "cancelled")
                    metric_attributes["error.type"] = "cancelled"
                elif error is not None:
                    error_type = type(error).__qualname__
                    span.set_attribute("error.type", error_type)
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, error_type))
                    metric_attributes["error.type"] = error_type
                instruments.duration.record(duration, metric_attributes)
                if state["first"] is not None:
                    instruments.first_chunk.record(state["first"], metric_attributes)
                if usage is not None:
                    for kind, count in (
                        ("input", usage.input_tokens),
                        ("output", usage.output_tokens),
                    ):
                        if count is not None:
                            instruments.tokens.record(
                                count, {**metric_attributes, "gen_ai.token.type": kind}
                            )
                span.end()

            def on_next(event: StreamEvent) -> None:
                if isinstance(event, StreamStart):
                    if event.id:
                        span.set_attribute("gen_ai.response.id", event.id)
                    if event.model:
                        span.set_attribute("gen_ai.response.model", event.model)
                        metric_attributes["gen_ai.response.model"] = event.model
                elif isinstance(event, Usage):
                    state["usage"] = event
                    if event.input_tokens is not None:
                        span.set_attribute("gen_ai.usage.input_tokens", event.input_tokens)
                    if event.output_tokens is not None:
                        span.set_attribute("gen_ai.usage.output_tokens", event.output_tokens)
                elif isinstance(event, Finish):
                    reasons.append(event.raw_reason or event.reason)
                elif isinstance(event, Retrying):
                    span.add_event(
                        "gen_ai.retry",
                        {
                            "gen_ai.retry.attempt": event.attempt,
                            "gen_ai.retry.delay": event.delay,
                            "gen_ai.retry.continued": event.continued,
                            "error.type": type(event.cause).__qualname__,
                        },
                    )
                elif isinstance(event, Rewind):
                    span.add_event("gen_ai.rewind", {"gen_ai.retry.attempt": event.attempt})
                elif state["first"] is None:
                    first = max(0.0, (event.received_at or time.monotonic()) - started)
                    state["first"] = first
                    span.set_attribute("gen_ai.response.time_to_first_chunk", first)
                observer.on_next(event)

            def on_error(error: Exception) -> None:
                finish(error)
                observer.on_error(error)

            def on_completed() -> None:
                finish(None)
                observer.on_completed()

            # The span is current while subscribing, so the task that makes the request (it
            # copies the context when created) runs inside it.
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                upstream = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)
            finally:
                otel_context.detach(token)
            return CompositeDisposable(upstream, Disposable(lambda: finish(None, cancelled=True)))

        return Observable(subscribe)

    return operator
