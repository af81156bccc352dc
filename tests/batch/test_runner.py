"""``sk.batch`` against the embedded server: answers, resume, partials, failures, budgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import streamkit as sk
from streamkit.batch import (
    BatchSummary,
    Budget,
    JSONLStore,
    Price,
    RateLimiter,
    RowResult,
    structured,
)
from streamkit.server import EmbeddedServer, answer_for, split_partial, tokens


def body_for(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "m",
        "max_tokens": 400,
        "messages": [{"role": "user", "content": row["prompt"]}],
        "stream_options": {"include_usage": True},
    }


def rows(n: int, prefix: str = "question") -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "prompt": f"{prefix} {i}"} for i in range(n)]


def expected(row: dict[str, Any]) -> str:
    return answer_for(body_for(row))


def done_records(path: Path) -> list[dict[str, Any]]:
    import orjson

    return [
        record
        for line in path.read_bytes().splitlines()
        if (record := orjson.loads(line))["status"] == "done"
    ]


async def test_every_row_is_answered_exactly_and_collected_in_input_order(
    embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    data = rows(30)
    run = sk.batch(
        data,
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        store=tmp_path / "out.jsonl",
        concurrency=7,
    )
    results = await run.collect()
    assert [r.key for r in results] == [row["id"] for row in data]
    assert all(r.status == "done" for r in results)
    assert [r.text for r in results] == [expected(row) for row in data]
    assert results[0].message is not None and results[0].message.text == expected(data[0])
    assert run.summary.done == 30 and run.summary.output_tokens > 0
    assert len(embedded_server.requests) == 30
    await embedded_server.wait_idle()


async def test_iteration_yields_in_completion_order(tmp_path: Path) -> None:
    # Row 0 is slow (a long stall), so it finishes after the others.
    async with EmbeddedServer() as server:
        data = rows(4)
        endpoint = sk.ChatEndpoint(server.url)

        def request(row: dict[str, Any]) -> dict[str, Any]:
            return body_for(row)

        slow = sk.ChatEndpoint(server.url, headers={"x-streamkit-fault": "stall=0.5@2"})
        order: list[str] = []

        # One run per endpoint is simplest: the slow row goes through its own endpoint.
        async def both() -> None:
            async for result in sk.batch(data[:1], request=request, endpoint=slow):
                order.append(result.key)

        task = asyncio.ensure_future(both())
        async for result in sk.batch(data[1:], request=request, endpoint=endpoint):
            order.append(result.key)
        await asyncio.wait_for(task, 10)
        assert order[-1] == "r0"


async def test_a_rerun_asks_only_the_rows_not_done_and_a_changed_prompt_again(
    embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    store = tmp_path / "out.jsonl"
    endpoint = sk.ChatEndpoint(embedded_server.url)
    data = rows(20)
    await sk.batch(data[:12], request=body_for, endpoint=endpoint, store=store).run()
    assert len(embedded_server.requests) == 12

    changed = [*data[:11], {"id": "r11", "prompt": "a new question"}, *data[12:]]
    run = sk.batch(changed, request=body_for, endpoint=endpoint, store=store, concurrency=3)
    results = await run.collect()
    assert len(embedded_server.requests) == 12 + 9  # r11 (changed) and r12..r19
    asked = {r["messages"][0]["content"] for r in (q.body for q in embedded_server.requests[12:])}
    assert asked == {"a new question", *(f"question {i}" for i in range(12, 20))}
    assert [r.status for r in results] == ["skipped"] * 11 + ["done"] * 9
    assert [r.text for r in results] == [expected(row) for row in changed]
    assert run.summary.skipped == 11 and run.summary.done == 9

    with JSONLStore(store) as reopened:
        # One winning record per key, the changed row's answer replacing the stale one.
        assert {r["key"]: r["text"] for r in reopened.records()} == {
            row["id"]: expected(row) for row in changed
        }


async def test_rows_are_pulled_lazily_with_at_most_concurrency_in_flight(
    embedded_server: EmbeddedServer,
) -> None:
    pulled = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for row in rows(40):
            pulled += 1
            yield row

    ahead: list[int] = []

    def on_result(result: RowResult, summary: BatchSummary) -> None:
        ahead.append(pulled - summary.finished)

    run = sk.batch(
        source(),
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        concurrency=5,
        on_result=on_result,
    )
    assert pulled == 0  # nothing happens before iteration
    await run.run()
    assert pulled == 40
    assert max(ahead) <= 5


async def test_async_iterables_are_rows_too(embedded_server: EmbeddedServer) -> None:
    async def source() -> AsyncIterator[dict[str, Any]]:
        for row in rows(6):
            yield row

    results = await sk.batch(
        source(), request=body_for, endpoint=sk.ChatEndpoint(embedded_server.url), concurrency=2
    ).collect()
    assert [r.text for r in results] == [expected(row) for row in rows(6)]


async def test_concurrency_beyond_aiohttps_default_connector_limit_is_reached(
    tmp_path: Path,
) -> None:
    # aiohttp's default connector caps a session at 100 connections; the run sizes its own.
    async with EmbeddedServer(rate=40) as server:
        peak = 0
        stop = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, server.open_connections)
                await asyncio.sleep(0.02)

        watcher = asyncio.ensure_future(watch())
        try:
            await sk.batch(
                rows(120), request=body_for, endpoint=sk.ChatEndpoint(server.url), concurrency=120
            ).run()
        finally:
            stop.set()
            await asyncio.wait_for(watcher, 5)
        assert peak > 100


async def test_a_failing_row_is_recorded_and_the_run_goes_on(
    embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    def request(row: dict[str, Any]) -> dict[str, Any]:
        body = body_for(row)
        if row["id"] == "r2":
            body["messages"] = []  # the server answers 400
        return body

    store = tmp_path / "out.jsonl"
    run = sk.batch(
        rows(5),
        request=request,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        store=store,
        retry=sk.RetryPolicy(max_attempts=3, base_delay=0.0),
    )
    results = await run.collect()
    assert [r.status for r in results] == ["done", "done", "failed", "done", "done"]
    failure = results[2]
    assert isinstance(failure.error, sk.APIStatusError) and failure.error.status == 400
    assert failure.record["error"]["status"] == 400
    assert failure.text == ""
    assert run.summary.failed == 1 and run.summary.done == 4
    with JSONLStore(store) as reopened:
        assert not reopened.is_done("r2", failure.record["request_hash"])


async def test_errors_raise_stops_the_run_at_the_first_failure(
    embedded_server: EmbeddedServer,
) -> None:
    def request(row: dict[str, Any]) -> dict[str, Any]:
        body = body_for(row)
        if row["id"] == "r0":
            body["messages"] = []
        return body

    run = sk.batch(
        rows(50),
        request=request,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        concurrency=1,
        errors="raise",
    )
    with pytest.raises(sk.APIStatusError):
        await run.run()
    assert run.summary.failed == 1 and run.summary.done == 0
    assert run.summary.stopped == "failure"
    assert len(embedded_server.requests) == 1


async def test_a_token_budget_stops_starting_rows(embedded_server: EmbeddedServer) -> None:
    run = sk.batch(
        rows(30),
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        concurrency=1,
        budget=Budget(tokens=200),
    )
    await run.run()
    assert run.summary.stopped == "budget"
    assert 0 < run.summary.done < 30
    assert run.summary.tokens >= 200
    assert len(embedded_server.requests) == run.summary.done


async def test_a_cost_budget_uses_the_models_price(embedded_server: EmbeddedServer) -> None:
    run = sk.batch(
        rows(30),
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        concurrency=1,
        budget=Budget(cost=0.001, prices={"m": Price(input=1.0, output=10.0)}),
    )
    await run.run()
    assert run.summary.stopped == "budget"
    assert run.summary.cost == pytest.approx(
        (run.summary.input_tokens * 1.0 + run.summary.output_tokens * 10.0) / 1e6
    )
    with pytest.raises(ValueError, match="prices"):
        Budget(cost=1.0)


async def test_a_stored_partial_is_continued_not_asked_again(
    embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    data = rows(3)
    full = expected(data[1])
    cut = full[: len(full) // 2]
    store_path = tmp_path / "out.jsonl"
    from streamkit.batch import request_hash

    fingerprint = request_hash(body_for(data[1]), format="openai")
    with JSONLStore(store_path) as store:
        store.append(
            {
                "key": "r1",
                "request_hash": fingerprint,
                "status": "partial",
                "partial": {"id": "chatcmpl-1", "model": "m", "text": cut},
            }
        )
    results = await sk.batch(
        data,
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        store=store_path,
        store_partials=True,
    ).collect()
    assert [r.text for r in results] == [expected(row) for row in data]
    continued = [q.body for q in embedded_server.requests if split_partial(q.body)[1]]
    assert len(continued) == 1 and split_partial(continued[0])[1] == cut
    assert len(embedded_server.requests) == 3
    # Only the missing part was generated, and the row took one attempt.
    assert results[1].record["attempts"] == 1
    assert 0 < results[1].record["usage"]["output_tokens"] < len(tokens(full))


async def test_partials_are_saved_while_a_row_streams(tmp_path: Path) -> None:
    async with EmbeddedServer(rate=200) as server:
        store_path = tmp_path / "out.jsonl"
        await sk.batch(
            rows(1),
            request=body_for,
            endpoint=sk.ChatEndpoint(server.url),
            store=store_path,
            store_partials=True,
            partial_interval=0.05,
        ).run()
    import orjson

    records = [orjson.loads(line) for line in store_path.read_bytes().splitlines()]
    pieces = [r["partial"] for r in records if r["status"] == "partial"]
    full = expected(rows(1)[0])
    assert len(pieces) > 1
    # Each piece is only what was added since the one before, placed where the text ends.
    assert [p["start"] for p in pieces] == [
        sum(len(q["text"]) for q in pieces[:i]) for i in range(len(pieces))
    ]
    assert full.startswith("".join(p["text"] for p in pieces))
    assert records[-1]["status"] == "done"


async def test_structured_output_reasks_with_the_error_then_accepts(
    embedded_server: EmbeddedServer,
) -> None:
    first_answers: set[str] = {expected(row) for row in rows(3)}

    def validate(message: sk.Message) -> str:
        if message.text in first_answers:
            raise ValueError("the answer must not be the first one")
        return message.text.upper()

    results = await sk.batch(
        rows(3),
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        validate=validate,
    ).collect()
    assert all(r.status == "done" for r in results)
    assert all(r.value == r.text.upper() for r in results)
    assert len(embedded_server.requests) == 6
    reask = embedded_server.requests[-1].body["messages"]
    assert reask[-2]["role"] == "assistant"
    assert "must not be the first one" in reask[-1]["content"]


async def test_an_answer_that_never_validates_is_a_failed_row_after_bounded_reasks(
    embedded_server: EmbeddedServer,
) -> None:
    schema = {"type": "object", "required": ["name"]}
    (result,) = await sk.batch(
        rows(1),
        request=body_for,
        endpoint=sk.ChatEndpoint(embedded_server.url),
        validate=structured(schema),
        max_reasks=2,
    ).collect()
    assert result.status == "failed"
    assert "not valid JSON" in result.record["error"]["message"]
    assert len(embedded_server.requests) == 3


async def test_a_limiter_can_be_shared_and_counts_every_request(
    embedded_server: EmbeddedServer,
) -> None:
    limiter = RateLimiter(rpm=6000, burst=10.0)
    await sk.batch(
        rows(5), request=body_for, endpoint=sk.ChatEndpoint(embedded_server.url), limiter=limiter
    ).run()
    assert limiter.pauses == 0


def test_bad_options_fail_at_once() -> None:
    endpoint = sk.ChatEndpoint("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="concurrency"):
        sk.batch([], request=body_for, endpoint=endpoint, concurrency=0)
    with pytest.raises(ValueError, match="store_partials"):
        sk.batch([], request=body_for, endpoint=endpoint, store_partials=True)
    with pytest.raises(TypeError, match="ChatEndpoint"):
        sk.batch([], request=body_for, endpoint="http://127.0.0.1:9")  # type: ignore[arg-type]


async def test_a_row_without_its_key_stops_the_run_with_a_clear_error(
    embedded_server: EmbeddedServer,
) -> None:
    with pytest.raises(KeyError, match="'id'"):
        await sk.batch(
            [{"prompt": "x"}], request=body_for, endpoint=sk.ChatEndpoint(embedded_server.url)
        ).run()


async def test_a_row_whose_request_cannot_be_built_is_a_failed_row(
    embedded_server: EmbeddedServer,
) -> None:
    data = [*rows(2), {"id": "odd"}]  # no prompt: the request builder fails
    results = await sk.batch(
        data, request=body_for, endpoint=sk.ChatEndpoint(embedded_server.url)
    ).collect()
    assert [r.status for r in results] == ["done", "done", "failed"]
    assert isinstance(results[2].error, KeyError)
    assert results[2].record["error"]["type"] == "KeyError"
