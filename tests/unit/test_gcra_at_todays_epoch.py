"""The GCRA decides at today's epoch (about 1.8e9 s) as it does at t=0: no start lost to rounding."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import arame
from arame.coordination.flow_limits import LimitStore
from arame.flow import parse_rate
from arame.flow.gcra import decide, default_burst

#: Every spelling of the issue's report, with the starts a quiet spell allows at once.
RATES = {
    "10/s": 1,
    "3/s": 1,
    "7/s": 1,
    "15/s": 1,
    "50/s": 5,
    "100/m": 1,
    "600/m": 1,
    "1000/h": 1,
    "5/s": 1,
    "2/s": 1,
    "200/s": 20,
}


@pytest.mark.parametrize(("text", "together"), RATES.items())
def test_after_a_quiet_spell_a_tenth_of_a_seconds_worth_starts_at_once_and_the_rest_line_up(
    text: str, together: int
) -> None:
    rate = parse_rate(text)
    burst = default_burst(rate)
    assert burst == together
    now = time.time()
    decision = decide(tat=0.0, tail=0.0, now=now, rate=rate, burst=burst, count=burst + 3)
    assert decision.granted == together
    assert decision.not_before == pytest.approx([now + n / rate for n in (1, 2, 3)], abs=2e-6)


@pytest.mark.parametrize("text", RATES)
@pytest.mark.parametrize("offset", [0.0, 0.1, 0.123456, 0.999999])
def test_each_waiting_start_is_admitted_when_it_comes_back_at_its_time(text: str, offset: float) -> None:
    rate = parse_rate(text)
    burst = default_burst(rate)
    now = float(int(time.time())) + offset
    first = decide(tat=0.0, tail=0.0, now=now, rate=rate, burst=burst, count=burst + 20)
    tat, tail = first.tat, first.tail
    for due in first.not_before:
        back = decide(tat, tail, now=due, rate=rate, burst=burst, count=1)
        assert back.granted == 1, f"{text}: a start due at {due!r} was deferred again"
        tat, tail = back.tat, back.tail
    # Over the whole line the rate holds: the last one starts 20 intervals after the burst.
    assert first.not_before[-1] - now == pytest.approx(20 / rate, rel=1e-5)


def test_a_start_given_back_may_be_taken_again_at_once(tmp_path: Path) -> None:
    app = arame.App("gcra", broker="memory://", results=f"sqlite:///{tmp_path / 'results.db'}")
    limits, rate, now = LimitStore(app.results), parse_rate("7/s"), time.time()
    assert limits.take_tokens("gcra.give", rate, 1, 1, now).granted == 1
    assert limits.take_tokens("gcra.give", rate, 1, 1, now).granted == 0
    limits.give_back("gcra.give", rate, 1)
    assert limits.take_tokens("gcra.give", rate, 1, 1, now).granted == 1
    app.close()
