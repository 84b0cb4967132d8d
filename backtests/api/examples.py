"""Example request bodies that work as they are on this site's data.

The browsable API's form for ``POST /api/backtest/run`` (and ``/validate``) starts from
``backtest_request_example()``: the first built-in strategy with its default parameters, on
the first two symbols of the first publisher that has minute bars, over their whole range.
Without data it is a plain example that validation will explain.
"""

from __future__ import annotations

from typing import Any

from backtests.engine.enums import BarPeriod

EXAMPLE_STRATEGY = "SMACrossover"
EXAMPLE_PERIOD = BarPeriod.MINUTE
STATIC_EXAMPLE: dict[str, Any] = {
    "strategy": EXAMPLE_STRATEGY,
    "strategy_params": {"fast_period": 20, "slow_period": 100, "quantity": 1.0},
    "symbols": ["AAPL", "MSFT"],
    "rtype": EXAMPLE_PERIOD.rtype,
    "publisher_id": 1,
    "start_date": "2024-01-02",
    "end_date": "2024-01-31",
    "record": "trades",
    "name": "example run",
}


def backtest_request_example() -> dict[str, Any]:
    """A ``POST /api/backtest/run`` body for the data this site holds (see the docstring)."""
    from backtests.feeds import DEFAULT_SYMBOL_TYPE
    from backtests.services.backtest_spec import strategy_classes
    from ostsite.formatting import utc_text
    from secmaster.models import SymbolCoverage

    body = dict(STATIC_EXAMPLE)
    cls = strategy_classes().get(EXAMPLE_STRATEGY)
    if cls is not None:
        params = cls.params_to_json({k: spec.default for k, spec in cls.parameters.items()})
        params.pop("bar_period", None)  # it follows rtype
        body["strategy_params"] = params
    rows = list(
        SymbolCoverage.objects.filter(rtype=EXAMPLE_PERIOD.rtype, symbol_type=DEFAULT_SYMBOL_TYPE)
        .order_by("publisher_id", "symbol")
        .values_list("publisher_id", "symbol", "min_ts", "max_ts")[:2]
    )
    rows = [row for row in rows if row[0] == rows[0][0]] if rows else []
    if rows:
        body["publisher_id"] = rows[0][0]
        body["symbols"] = [row[1] for row in rows]
        body["start_date"] = utc_text(min(row[2] for row in rows))[:10]
        body["end_date"] = utc_text(max(row[3] for row in rows))[:10]
    return body
