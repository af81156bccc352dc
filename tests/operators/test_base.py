"""``stateful_operator``: the scaffold of every operator that folds a stream into state."""

from __future__ import annotations

import reactivex
from reactivex import Observable
from reactivex.subject import Subject

from streamkit.operators.base import Emit, Operator, stateful_operator


def _running_sum(*, fail_at: int | None = None, log: list[str] | None = None) -> Operator[int, int]:
    journal = log if log is not None else []

    def step(total: int, item: int, emit: Emit[int]) -> int:
        if item == fail_at:
            emit(-1)  # emitted before the failure: must still arrive
            raise ValueError(f"bad item {item}")
        emit(total + item)
        return total + item

    def flush(total: int, emit: Emit[int]) -> None:
        journal.append(f"flush {total}")
        emit(total * 100)

    def close(total: int) -> None:
        journal.append(f"close {total}")

    return stateful_operator(lambda: 0, step, flush=flush, close=close)


def _run(source: Observable[int], op: Operator[int, int]) -> tuple[list[int], list[str], bool]:
    values: list[int] = []
    errors: list[str] = []
    completed: list[bool] = []
    source.pipe(op).subscribe(
        values.append, lambda e: errors.append(str(e)), lambda: completed.append(True)
    )
    return values, errors, bool(completed)


def test_each_step_emits_and_flush_comes_before_completion() -> None:
    log: list[str] = []
    values, errors, completed = _run(reactivex.of(1, 2, 3), _running_sum(log=log))
    assert (values, errors, completed) == ([1, 3, 6, 600], [], True)
    assert log == ["flush 6", "close 6"]


def test_a_failing_step_delivers_what_it_emitted_then_the_error_and_unsubscribes() -> None:
    log: list[str] = []
    source: Subject[int] = Subject()
    values, errors, completed = [], [], []  # type: ignore[var-annotated]
    source.pipe(_running_sum(fail_at=2, log=log)).subscribe(
        values.append, lambda e: errors.append(str(e)), lambda: completed.append(True)
    )
    source.on_next(1)
    source.on_next(2)
    assert not source.observers  # the source was disposed
    source.on_next(3)
    source.on_completed()
    assert (values, errors, completed) == ([1, -1], ["bad item 2"], [])
    assert log == ["close 1"]


def test_a_source_error_closes_the_state_before_passing_on() -> None:
    log: list[str] = []
    failing = reactivex.concat(reactivex.of(5), reactivex.throw(RuntimeError("cut")))
    values, errors, completed = _run(failing, _running_sum(log=log))
    assert (values, errors, completed) == ([5], ["cut"], False)
    assert log == ["close 5"]


def test_disposal_closes_once_and_stops_emission() -> None:
    log: list[str] = []
    source: Subject[int] = Subject()
    values: list[int] = []
    subscription = source.pipe(_running_sum(log=log)).subscribe(values.append)
    source.on_next(4)
    subscription.dispose()
    subscription.dispose()
    source.on_next(5)
    assert values == [4]
    assert log == ["close 4"]


def test_every_subscription_starts_its_own_state() -> None:
    summed = reactivex.of(1, 2).pipe(_running_sum())
    first: list[int] = []
    second: list[int] = []
    summed.subscribe(first.append)
    summed.subscribe(second.append)
    assert first == second == [1, 3, 300]
