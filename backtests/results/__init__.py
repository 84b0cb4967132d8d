"""A run's results, computed once when it stops and kept: its metrics, round trips and
equity series (``models``), how they are computed and stored (``services``), read
(``selectors``) and rebuilt for runs that predate them (``replay``)."""
