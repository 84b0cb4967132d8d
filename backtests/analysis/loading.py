"""Selectors that load what the analysis needs from a run, each in one set-based query.

A run's analysis costs a constant number of queries however many trades it has: the run row,
its fills, and bars for the fills' symbols and time window, taken from the first source that
has them:

1. ``bars`` (runs recorded with record="full"),
2. ``bars_processed`` (runs whose recorder stored bars with their indicator values only),
3. the security master (runs recorded with record="trades" store no bars): the run's
   publisher and rtype, symbols resolved through the symbology intervals that hold each bar's
   UTC date, prices divided by 1e9. Two queries: the mappings, then the bars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from django.db.models import OuterRef, Subquery

from backtests.analysis.frames import BAR_COLUMNS, FILL_COLUMNS, empty_bars_frame, empty_fills_frame
from backtests.feeds import DEFAULT_SYMBOL_TYPE
from backtests.models import Fill, ProcessedBar, RecordedBar, Run
from ostsite.errors import NotFound
from secmaster.models import BAR_PERIOD_RTYPES, PRICE_SCALE, Instrument, OhlcvBar, SymbologyMapping

RUN_NOT_FOUND = "Run not found: {run_id}"

_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = dt.date(1970, 1, 1)


def run_config_get(*, run_id: str) -> dict[str, Any]:
    """The run's configuration JSON ({} when it has none); raises NotFound for an unknown id."""
    if "\x00" in run_id:  # no run can be called so, and PostgreSQL refuses the query
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id.replace("\x00", "\\x00")))
    rows = list(Run.objects.filter(run_id=run_id).values_list("config", flat=True)[:1])
    if not rows:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id))
    config = rows[0]
    return config if isinstance(config, dict) else {}


def fills_frame_for_run(*, run_id: str, symbol: str | None = None) -> pd.DataFrame:
    """The run's fills (FILL_COLUMNS), in execution order: by ts_event_ns, then id."""
    fills = Fill.objects.filter(run_id=run_id)
    if symbol is not None:
        fills = fills.filter(symbol=symbol)
    rows = list(fills.order_by("ts_event_ns", "id").values_list(*FILL_COLUMNS))
    if not rows:
        return empty_fills_frame()
    frame = pd.DataFrame.from_records(rows, columns=list(FILL_COLUMNS))
    return frame.astype(
        {
            "ts_event_ns": "int64",
            "quantity_filled": "float64",
            "fill_price": "float64",
            "commission": "float64",
        }
    )


def _frame_from_bar_rows(rows: list[tuple]) -> pd.DataFrame:
    if not rows:
        return empty_bars_frame()
    frame = pd.DataFrame.from_records(rows, columns=list(BAR_COLUMNS))
    return frame.astype({"ts_event_ns": "int64", "high": "float64", "low": "float64"})


def _recorded_bars(
    model: type[RecordedBar] | type[ProcessedBar],
    *,
    run_id: str,
    symbols: Sequence[str],
    start_ns: int,
    end_ns: int,
) -> pd.DataFrame:
    rows = list(
        model.objects.filter(
            run_id=run_id,
            symbol__in=list(symbols),
            ts_event_ns__gte=start_ns,
            ts_event_ns__lte=end_ns,
        )
        .order_by("symbol", "ts_event_ns", "id")
        .values_list(*BAR_COLUMNS)
    )
    return _frame_from_bar_rows(rows)


def _config_rtype(config: dict[str, Any]) -> int | None:
    rtype = config.get("rtype")
    if isinstance(rtype, int) and not isinstance(rtype, bool):
        return rtype
    return BAR_PERIOD_RTYPES.get(str(config.get("bar_period", "")))


def secmaster_bars_frame(
    *,
    publisher_id: int,
    rtype: int,
    symbols: Sequence[str],
    start_ns: int,
    end_ns: int,
    symbol_type: str = DEFAULT_SYMBOL_TYPE,
) -> pd.DataFrame:
    """Security master bars (BAR_COLUMNS, prices in currency) of ``symbols`` in [start, end].

    A bar belongs to a symbol when the symbology interval [start_date, end_date) that maps the
    symbol (of ``symbol_type``) to the bar's instrument holds the bar's UTC date, as the
    datafeed (backtests.feeds) resolves it.
    """
    if not symbols or end_ns < start_ns:
        return empty_bars_frame()
    first_day = _EPOCH + dt.timedelta(days=start_ns // _NS_PER_DAY)
    last_day = _EPOCH + dt.timedelta(days=end_ns // _NS_PER_DAY)
    instrument_of_mapping = (
        Instrument.objects.filter(
            publisher_id=OuterRef("publisher_id"),
            source_instrument_id=OuterRef("source_instrument_id"),
        )
        .order_by("instrument_id")
        .values("instrument_id")[:1]
    )
    mappings = list(
        SymbologyMapping.objects.filter(
            publisher_id=publisher_id,
            symbol_type=symbol_type,
            symbol__in=list(symbols),
            start_date__lte=last_day,
            end_date__gt=first_day,
        )
        .annotate(mapped_instrument=Subquery(instrument_of_mapping))
        .filter(mapped_instrument__isnull=False)
        .order_by("symbol", "start_date", "source_instrument_id")
        .values_list("symbol", "start_date", "end_date", "mapped_instrument")
    )
    if not mappings:
        return empty_bars_frame()
    mapping_frame = pd.DataFrame.from_records(
        mappings, columns=["symbol", "start_date", "end_date", "instrument_id"]
    )
    rows = list(
        OhlcvBar.objects.filter(
            instrument_id__in=sorted({int(m[3]) for m in mappings}),
            rtype=rtype,
            ts_event__gte=start_ns,
            ts_event__lte=end_ns,
        )
        .order_by("ts_event", "instrument_id")
        .values_list("instrument_id", "ts_event", "high", "low")
    )
    if not rows:
        return empty_bars_frame()
    bars = pd.DataFrame.from_records(rows, columns=["instrument_id", "ts_event_ns", "high", "low"])
    joined = bars.merge(mapping_frame, on="instrument_id", how="inner")
    day = joined["ts_event_ns"].to_numpy(dtype=np.int64) // _NS_PER_DAY
    start_day = np.array([(d - _EPOCH).days for d in joined["start_date"]], dtype=np.int64)
    end_day = np.array([(d - _EPOCH).days for d in joined["end_date"]], dtype=np.int64)
    joined = joined[(start_day <= day) & (day < end_day)]
    joined = joined.drop_duplicates(["symbol", "ts_event_ns"], keep="first")
    frame = pd.DataFrame(
        {
            "ts_event_ns": joined["ts_event_ns"].to_numpy(dtype=np.int64),
            "symbol": joined["symbol"].to_numpy(dtype=object),
            "high": joined["high"].to_numpy(dtype=float) / PRICE_SCALE,
            "low": joined["low"].to_numpy(dtype=float) / PRICE_SCALE,
        }
    )
    return frame.sort_values(["symbol", "ts_event_ns"], kind="stable").reset_index(drop=True)


def bars_frame_for_run(
    *,
    run_id: str,
    config: dict[str, Any],
    symbols: Sequence[str],
    start_ns: int,
    end_ns: int,
) -> pd.DataFrame:
    """Bars (BAR_COLUMNS) of ``symbols`` in [start_ns, end_ns] for the run's analysis.

    Recorded bars first, then processed bars, then the security master (module docstring).
    """
    if not symbols:
        return empty_bars_frame()
    window = {"symbols": symbols, "start_ns": start_ns, "end_ns": end_ns}
    if config.get("record") != "trades":
        for model in (RecordedBar, ProcessedBar):
            frame = _recorded_bars(model, run_id=run_id, **window)
            if not frame.empty:
                return frame
    publisher_id = config.get("publisher_id")
    rtype = _config_rtype(config)
    if not isinstance(publisher_id, int) or isinstance(publisher_id, bool) or rtype is None:
        return empty_bars_frame()
    return secmaster_bars_frame(publisher_id=publisher_id, rtype=rtype, **window)


def analysis_frames_for_run(
    *, run_id: str, symbol: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fills, bars) of a run, optionally of one symbol; NotFound for an unknown run id."""
    config = run_config_get(run_id=run_id)
    if symbol is not None and "\x00" in symbol:
        return empty_fills_frame(), empty_bars_frame()
    fills = fills_frame_for_run(run_id=run_id, symbol=symbol)
    if fills.empty:
        return fills, empty_bars_frame()
    bars = bars_frame_for_run(
        run_id=run_id,
        config=config,
        symbols=sorted(fills["symbol"].unique().tolist()),
        start_ns=int(fills["ts_event_ns"].min()),
        end_ns=int(fills["ts_event_ns"].max()),
    )
    return fills, bars
