"""The stock-out forecast's arithmetic on synthetic series with known answers."""

from __future__ import annotations

from datetime import date

import pytest

from catalog.store.forecast import ALPHA, forecast, smooth

TODAY = date(2026, 3, 2)


def test_a_steady_demand_is_forecast_as_itself() -> None:
    assert smooth([3.0] * 28) == pytest.approx(3.0)


def test_a_jump_on_the_last_day_moves_the_forecast_by_alpha_of_it() -> None:
    assert smooth([0.0] * 27 + [10.0]) == pytest.approx(ALPHA * 10)


def test_an_old_spike_has_decayed() -> None:
    assert smooth([10.0] + [0.0] * 27) == pytest.approx(10 * (1 - ALPHA) ** 27)


def test_a_linear_trend_lags_behind_by_the_known_amount() -> None:
    # For x_t = t, SES's level settles (1 - alpha) / alpha behind the series.
    series = [float(t) for t in range(200)]
    assert smooth(series) == pytest.approx(199 - (1 - ALPHA) / ALPHA, abs=1e-6)


def test_no_history_means_no_demand() -> None:
    assert smooth([]) == 0.0


def test_days_of_cover_and_the_stockout_day() -> None:
    exact = forecast(30, 3.0, today=TODAY)
    assert (exact.days_of_cover, exact.stockout_on) == (10.0, date(2026, 3, 12))
    partial = forecast(11, 2.0, today=TODAY)  # 5.5 days: runs out during the 6th
    assert (partial.days_of_cover, partial.stockout_on) == (5.5, date(2026, 3, 8))
    empty = forecast(0, 2.0, today=TODAY)
    assert (empty.days_of_cover, empty.stockout_on) == (0.0, TODAY)


def test_no_demand_predicts_no_stockout() -> None:
    none = forecast(5, 0.0, today=TODAY)
    assert (none.daily_demand, none.days_of_cover, none.stockout_on) == (0.0, None, None)
