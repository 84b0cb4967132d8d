"""Analysis of finished runs: round trips and run metrics, computed with pandas/numpy over a
run's fills and bars loaded in a constant number of queries.

- ``roundtrips.roundtrips_for_run(run_id, symbol=None)`` -> list of round-trip dicts
- ``metrics.metrics_for_run(run_id, symbol=None)`` -> JSON-safe metrics dict
"""
