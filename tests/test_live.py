"""ui.live.wall_rate: the rate the caption shows is steps ÷ wall time, drawing and waiting included."""

from __future__ import annotations

import pytest

from ui.live import wall_rate


def test_wall_rate_is_steps_over_wall_time_of_the_recent_window():
    ticks: list[tuple[float, int]] = []
    # 0.25 s of training at 4,000 steps/s then 0.75 s of drawing per tick: 1,000 steps per wall second
    rates = [wall_rate(ticks, float(t), 1000 * t, window=5.0) for t in range(20)]
    assert rates[0] is None
    assert rates[1:] == [pytest.approx(1000.0)] * 19
    assert ticks[-1][0] - ticks[0][0] <= 5.0 + 1.0 and len(ticks) <= 7  # older ticks are dropped


def test_wall_rate_follows_a_slowdown_within_the_window():
    ticks: list[tuple[float, int]] = []
    for t in range(10):  # 100 steps/s for 10 s
        wall_rate(ticks, float(t), 100 * t, window=3.0)
    rate = None
    for t in range(10, 20):  # then 10 steps/s (say, another visitor took the cores)
        rate = wall_rate(ticks, float(t), 900 + 10 * (t - 9), window=3.0)
    assert rate == pytest.approx(10.0)
