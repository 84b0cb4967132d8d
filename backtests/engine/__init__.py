"""The backtesting engine: pure Python, no Django.

Everything that touches a database sits outside this package: a datafeed that reads the
security master and a recorder that writes events plug in through the protocols in
``backtests.engine.protocols``.
"""
