"""OpenTelemetry: one GenAI span per streamed request, retries as span events, GenAI metrics."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import streamkit as sk
from streamkit.otel import trace_chat
from streamkit.server import EmbeddedServer, answer_for

BODY = {
    "model": "gpt-4o-mini",
    "max_tokens": 200,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "Tell me a story"}],
}
SECRET = "sk-test-never-in-a-span-0123456789"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


async def test_a_streamed_request_is_one_genai_span_with_usage_and_finish_reasons(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    reader: InMemoryMetricReader,
) -> None:
    async with EmbeddedServer(api_key=SECRET) as server:
        events = sk.stream_chat(server.url, BODY, api_key=SECRET).pipe(
            trace_chat(
                BODY,
                format="openai",
                url=server.url,
                tracer_provider=tracer_provider,
                meter_provider=MeterProvider(metric_readers=[reader]),
            )
        )
        message = await sk.ChatStream(events)

    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.max_tokens"] == 200
    assert attributes["gen_ai.response.id"] == message.id
    assert attributes["gen_ai.response.model"] == message.model
    assert message.usage is not None
    assert attributes["gen_ai.usage.input_tokens"] == message.usage.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == message.usage.output_tokens
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert 0 <= attributes["gen_ai.response.time_to_first_chunk"] < 10
    assert attributes["server.address"] == "127.0.0.1"
    assert span.status.status_code is StatusCode.UNSET
    assert SECRET not in repr(attributes)
    assert answer_for(BODY) not in repr(attributes)  # the answer is not recorded

    data = reader.get_metrics_data()
    assert data is not None
    metrics = {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
    } <= set(metrics)
    token_types = {
        point.attributes["gen_ai.token.type"]
        for point in metrics["gen_ai.client.token.usage"].data.data_points
    }
    assert token_types == {"input", "output"}


async def test_retry_attempts_are_span_events_of_the_one_span(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    headers = {
        "x-streamkit-fault": "disconnect-after=5;first-attempts=1",
        "x-streamkit-session": "otel-retry",
    }
    async with EmbeddedServer() as server:
        events = sk.stream_chat(
            server.url, BODY, headers=headers, retry=sk.RetryPolicy(base_delay=0.01)
        ).pipe(trace_chat(BODY, tracer_provider=tracer_provider))
        await sk.ChatStream(events)

    (span,) = exporter.get_finished_spans()
    (retry,) = [event for event in span.events if event.name == "gen_ai.retry"]
    assert retry.attributes is not None
    assert retry.attributes["gen_ai.retry.attempt"] == 2
    assert retry.attributes["error.type"] == "ConnectionLostError"
    assert retry.attributes["gen_ai.retry.delay"] >= 0


async def test_a_failed_request_sets_the_error_status(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with EmbeddedServer() as server:
        events = sk.stream_chat(server.url, BODY, headers={"x-streamkit-fault": "status=500"}).pipe(
            trace_chat(BODY, tracer_provider=tracer_provider)
        )
        with pytest.raises(sk.ServerError):
            await sk.ChatStream(events)

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ServerError"
