"""The backtesting engine: pure Python, no Django.

Everything that touches a database sits outside this package: a datafeed that reads the
security master and a recorder that writes events plug in through the protocols in
``backtests.engine.protocols``.

Layout: ``enums``/``events`` (immutable event types), ``dispatcher`` (synchronous order-flow
routing), ``indicators/`` (per-symbol bounded history, NaN warm-up, plot hints),
``strategies/`` (``StrategyBase``, ``ParamSpec``, built-in examples), ``positions``
(position/average price/realised P&L from fills), ``broker`` (fill rules), ``orchestrator``
(the run loop and ``RunOutcome``), ``registry`` (strategy ids, user-code discovery) and
``memory`` (in-memory datafeed and recorder).

A minimal strategy::

    class Breakout(StrategyBase):
        name = "Breakout"
        parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE),
                      "period": ParamSpec(default=20, min=2, max=500, step=1)}

        def setup(self):
            self.high = self.add_indicator(PeriodHighest(self.period))

        def on_bar(self, bar):
            if self.position == 0 and bar.close >= self.high[bar.symbol, -2]:
                self.submit_order(OrderType.MARKET, TradeSide.BUY, 1.0)
"""
