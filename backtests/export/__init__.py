"""A run's results as files: round trips, fills, every order event, the equity series and
the metrics, as CSV or Parquet, one table at a time or all in a zip with a manifest.

``tables`` says what each table holds and reads its rows in chunks from the stored results
and event tables; ``writers`` turns chunks into CSV bytes or Parquet row groups (nothing
holds a whole table); ``manifest`` describes the run (config, strategy source and hash,
indicators, data read, costs, engine version); ``archive`` assembles the zip or a folder.
"""
