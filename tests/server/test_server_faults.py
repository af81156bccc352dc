"""Parsing the ``x-streamkit-fault`` header."""

from __future__ import annotations

import pytest

from streamkit.errors import StreamkitError
from streamkit.server import FaultPlan, FaultSpecError, parse_faults


def test_empty_header_means_no_faults() -> None:
    assert parse_faults("") == FaultPlan()
    assert parse_faults(None).empty
    assert parse_faults(" ; ").empty


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("disconnect-after=3", FaultPlan(disconnect_after=3)),
        ("status=429; retry-after=1.5", FaultPlan(status=429, retry_after=1.5)),
        ("status=529", FaultPlan(status=529)),
        (
            "error-event-after=4:overloaded_error",
            FaultPlan(error_event_after=4, error_type="overloaded_error"),
        ),
        ("malformed-after=2", FaultPlan(malformed_after=2)),
        ("stall=0.5@3", FaultPlan(stall_seconds=0.5, stall_before=3)),
        ("oversize-after=1:4096", FaultPlan(oversize_after=1, oversize_bytes=4096)),
        ("keepalive-every=2", FaultPlan(keepalive_every=2)),
        (
            "first-attempts=1;disconnect-after=0",
            FaultPlan(first_attempts=1, disconnect_after=0),
        ),
    ],
)
def test_each_spec_parses(header: str, expected: FaultPlan) -> None:
    plan = parse_faults(header)
    assert plan == expected
    assert not plan.empty


def test_without_faults_keeps_only_keep_alives() -> None:
    plan = parse_faults("disconnect-after=1;keepalive-every=3;first-attempts=2")
    assert plan.without_faults() == FaultPlan(keepalive_every=3)


@pytest.mark.parametrize(
    ("header", "spec", "reason"),
    [
        ("explode=1", "explode=1", "unknown fault 'explode'"),
        ("status=429;bogus", "bogus", "unknown fault 'bogus'"),
        ("disconnect-after", "disconnect-after", "expected NAME=VALUE"),
        ("disconnect-after=x", "disconnect-after=x", "not a whole number"),
        ("disconnect-after=-1", "disconnect-after=-1", "negative"),
        ("status=200", "status=200", "HTTP error code"),
        ("stall=1", "stall=1", "separated by '@'"),
        ("stall=abc@2", "stall=abc@2", "number of seconds"),
        ("error-event-after=2", "error-event-after=2", "separated by ':'"),
        ("first-attempts=0", "first-attempts=0", "at least 1"),
        ("status=500;status=503", "status=503", "given twice"),
        ("retry-after=2", "retry-after=2", "needs status"),
    ],
)
def test_bad_specs_raise_a_value_error_naming_the_spec(header: str, spec: str, reason: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_faults(header)
    assert isinstance(info.value, ValueError) and isinstance(info.value, StreamkitError)
    assert info.value.spec == spec
    assert reason in str(info.value)
    assert repr(spec) in str(info.value)
