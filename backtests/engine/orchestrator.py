"""Runs one strategy over one datafeed with the simulated broker.

The datafeed delivers chunks of bars (per-symbol columns, ``chunks.BarChunk``). For each
chunk the orchestrator builds the bar tuples in one C-level pass and lets the strategy's
indicators compute the whole chunk ahead (``Indicator.compute_block``); then it walks the
bars in delivery order. Per bar: the broker fills the symbol's eligible pending orders
(skipped when there are none), the bar joins the symbol's history, the indicator values of
that bar are revealed (one append for all indicators), indicators with their own ``update``
run, then ``strategy.on_bar``. Nothing a strategy can read shows a value of a later bar.

The strategy learns of the broker's fills before or after its ``on_bar`` as ``FillTiming``
says (after, by default, as OneSecondTrader 0.75 did). Order requests, broker responses and
fills flow synchronously through a ``Dispatcher`` to the recorder, the broker, the strategy
the run's tally and its account, in that subscription order. After each sub-batch the
account (``accounting.Accounting``) marks the positions to market at the bars' closes, in
numpy. Bars are recorded a sub-batch at a time when the recorder takes blocks
(``record_bar_block``), else one event at a time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from backtests.engine.accounting import DEFAULT_CAPITAL, Accounting, AccountingResult
from backtests.engine.broker import SimulatedBroker
from backtests.engine.chunks import BarBlock, BarChunk, gc_paused
from backtests.engine.dispatcher import Dispatcher
from backtests.engine.enums import FillTiming
from backtests.engine.events import (
    BarProcessed,
    BarReceived,
    BrokerResponse,
    Event,
    FillEvent,
    OrderCancellationRequest,
    OrderModificationRequest,
    OrderSubmissionRequest,
)
from backtests.engine.indicators.base import Indicator
from backtests.engine.memory import NullRecorder
from backtests.engine.protocols import Datafeed, Recorder
from backtests.engine.strategies.base import StrategyBase

COMPLETED = "completed"
CANCELLED = "cancelled"
# Bars are walked in sub-batches: before each, cancellation is checked; after each, progress
# is reported and (for block recorders) its bars are recorded. Cancellation is checked by
# time, not by bar count: a run starts with one-bar sub-batches, and each next one aims at
# about SUB_BATCH_SECONDS of work at the pace just measured, growing at most SUB_BATCH_GROWTH
# times a step (so one quick sub-batch cannot launch a long one), between MIN_SUB_BATCH and
# CANCEL_CHECK_BARS bars. A strategy taking a second a bar is checked after every bar; a
# fast one reaches full sub-batches after about 15 of them.
CANCEL_CHECK_BARS = 16_384
MIN_SUB_BATCH = 1
SUB_BATCH_GROWTH = 2
SUB_BATCH_SECONDS = 0.1

# The account marks walked bars a stretch at a time, of at least MARK_MIN_BARS bars (or the
# chunk's rest): each stretch costs a fixed few hundred microseconds of numpy calls, which the
# first, one-bar sub-batches would otherwise pay one by one. Marking does not depend on where
# the stretches are cut (``accounting.running``).
MARK_MIN_BARS = 2_048

_clock = time.perf_counter  # how sub-batches are timed (tests put a simulated clock here)

_NO_VALUES: list = []  # the per-bar values of a bar when no indicator runs per bar (never mutated)

MSG_BLOCK_LENGTH = (
    "indicator {name!r}: compute_block returned {got} values for {expected} bars of {symbol!r}"
)


@dataclass(frozen=True)
class RunOutcome:
    status: str  # "completed" | "cancelled"
    bars: int
    orders: int  # submissions
    fills: int
    account: AccountingResult

    @property
    def net_pnl(self) -> float:
        """Equity at the last bar minus the capital: realised + open, after commissions."""
        return self.account.net_pnl


class _Tally:
    """Counts submissions and fills."""

    def __init__(self) -> None:
        self.orders = 0
        self.fills = 0

    def on_submission(self, event: OrderSubmissionRequest) -> None:
        self.orders += 1

    def on_fill(self, fill: FillEvent) -> None:
        self.fills += 1


@dataclass
class _Progress:
    """Where a run stands: bars done, the last one's time, the next sub-batch size."""

    total: int
    done: int = 0
    last_ts: int = 0
    step: int = MIN_SUB_BATCH
    status: str = COMPLETED


class _Walk:
    """One chunk made ready to walk: its bars in delivery order (of the strategy's symbols),
    their computed-ahead indicator values (``values``, one row per bar) and, for recording,
    their columns (``BarChunk.columns``, same order) and the chunk's symbols by code."""

    __slots__ = ("bars", "values", "columns", "symbols")

    def __init__(
        self,
        bars: Sequence[BarReceived],
        values: np.ndarray,
        columns: dict[str, np.ndarray],
        symbols: tuple[str, ...],
    ) -> None:
        self.bars, self.values, self.columns, self.symbols = bars, values, columns, symbols


def _next_step(step: int, walked: int, seconds: float, ceiling: int) -> int:
    """The next sub-batch size: about ``SUB_BATCH_SECONDS`` of work at the pace just seen,
    at most ``SUB_BATCH_GROWTH`` times ``step`` and ``ceiling`` bars, at least one bar."""
    if walked < step:  # the chunk ended: no measure of a full step
        return step
    rate = walked / max(seconds, 1e-6)
    wanted = max(MIN_SUB_BATCH, int(rate * SUB_BATCH_SECONDS))
    return min(ceiling, step * SUB_BATCH_GROWTH, wanted)


class Orchestrator:
    """Wires datafeed -> broker -> indicators -> strategy -> recorder and runs to the end."""

    def __init__(
        self,
        *,
        strategy: StrategyBase,
        datafeed: Datafeed,
        broker: SimulatedBroker,
        recorder: Recorder | None = None,
        on_progress: Callable[[float], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        fill_timing: FillTiming = FillTiming.NEXT_BAR,
        capital: float = DEFAULT_CAPITAL,
    ) -> None:
        self.strategy = strategy
        self.datafeed = datafeed
        self.broker = broker
        self.recorder = recorder if recorder is not None else NullRecorder()
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.fill_timing = fill_timing
        self._deferred_fills: list[FillEvent] = []
        self._ahead: tuple[Indicator, ...] = strategy.ahead_indicators
        self._per_bar: tuple[Indicator, ...] = strategy.per_bar_indicators
        self._names = tuple(i.name for i in (*self._ahead, *self._per_bar))
        self.accounting = Accounting(symbols=strategy.symbols, capital=capital)
        self._account: AccountingResult | None = None

    # --- wiring ------------------------------------------------------------------------

    def _wire(self, tally: _Tally) -> Dispatcher:
        dispatcher = Dispatcher()
        broker, strategy = self.broker, self.strategy
        dispatcher.subscribe(Event, self.recorder.record)
        dispatcher.subscribe(OrderSubmissionRequest, tally.on_submission)
        dispatcher.subscribe(OrderSubmissionRequest, broker.on_submission)
        dispatcher.subscribe(OrderModificationRequest, broker.on_modification)
        dispatcher.subscribe(OrderCancellationRequest, broker.on_cancellation)
        dispatcher.subscribe(FillEvent, tally.on_fill)
        dispatcher.subscribe(FillEvent, self.accounting.on_fill)
        if self.fill_timing is FillTiming.NEXT_BAR:
            deferred = self._deferred_fills
            on_response = strategy.on_broker_response

            def to_strategy(event: BrokerResponse) -> None:
                if type(event) is FillEvent:
                    deferred.append(event)
                else:
                    on_response(event)

            dispatcher.subscribe(BrokerResponse, to_strategy)
        else:
            dispatcher.subscribe(BrokerResponse, strategy.on_broker_response)
        broker.bind(dispatcher.publish)
        strategy.bind(dispatcher.publish, capital=self.accounting.capital)
        return dispatcher

    def _deliver_deferred(self, deliver: Callable[[FillEvent], None]) -> None:
        fills = list(self._deferred_fills)
        self._deferred_fills.clear()
        for fill in fills:
            deliver(fill)

    def _lanes(self) -> dict[str, list]:
        """Per strategy symbol, what the hot loop needs, unpacked once per bar: the symbol's
        bar history, the next row of its computed-ahead values (set per chunk), where that
        row goes, and the ``update`` of indicators that run per bar."""
        strategy = self.strategy
        per_bar = tuple(indicator.update for indicator in self._per_bar)
        no_rows: deque = deque(maxlen=0)
        lanes = {}
        for symbol in strategy.symbols:
            rows = strategy.indicator_rows.get(symbol, no_rows)
            lanes[symbol] = [
                strategy.bar.bars_of(symbol),
                repeat(()).__next__,
                rows.append,
                per_bar,
            ]
        return lanes

    def _chunks(self) -> Iterator[BarChunk]:
        """The datafeed's chunks, or its batches of bar tuples turned into chunks."""
        chunks = getattr(self.datafeed, "chunks", None)
        if chunks is not None:
            yield from chunks()
            return
        batches = self.datafeed.batches()
        try:
            for batch in batches:
                yield BarChunk.from_bars(batch)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    # --- one chunk ---------------------------------------------------------------------

    def _prepare(self, chunk: BarChunk, lanes: dict[str, list]) -> _Walk:
        """Build the chunk's bars, compute its indicator values ahead, order everything."""
        ahead = self._ahead
        width = len(ahead)
        value_parts, known = [], []
        for part in chunk.parts:
            lane = lanes.get(part.symbol)
            known.append(lane is not None)
            if lane is None or not width:
                value_parts.append(np.full((len(part), width), np.nan))
                continue
            columns = []
            for indicator in ahead:
                values = np.asarray(indicator.compute_block(part), dtype=np.float64)
                if values.shape != (len(part),):
                    raise ValueError(
                        MSG_BLOCK_LENGTH.format(
                            name=indicator.name,
                            got=values.shape[0] if values.ndim else 0,
                            expected=len(part),
                            symbol=part.symbol,
                        )
                    )
                columns.append(values)
            rows = list(zip(*(column.tolist() for column in columns), strict=True))
            lane[1] = iter(rows).__next__
            value_parts.append(np.column_stack(columns))
        bars = chunk.bars()
        values = np.concatenate(value_parts)[chunk.order] if value_parts else np.empty((0, 0))
        columns = chunk.columns()  # the account marks every bar; block recorders write them
        if not all(known):
            keep = np.repeat(known, [len(part) for part in chunk.parts])[chunk.order]
            bars = [bar for bar, kept in zip(bars, keep.tolist(), strict=True) if kept]
            values = values[keep]
            columns = {name: column[keep] for name, column in columns.items()}
        return _Walk(bars, values, columns, tuple(part.symbol for part in chunk.parts))

    def _walk(
        self,
        bars: Sequence[BarReceived],
        lanes: dict[str, list],
        per_bar_log: list | None,
        record_each: Callable[[BarReceived, list], None] | None,
    ) -> None:
        """The hot loop: every bar of a sub-batch, in delivery order."""
        strategy = self.strategy
        history = strategy.bar
        books = self.broker.books
        broker_on_bar = self.broker.on_bar
        on_bar = strategy.on_bar
        deferred = self._deferred_fills
        deliver = strategy.on_broker_response
        for bar in bars:
            strategy._current = bar
            symbol = bar[2]
            if symbol in books:
                broker_on_bar(bar)
            kept, next_row, push_row, per_bar = lanes[symbol]
            kept.append(bar)  # what history.push(bar) does, with the deque bound
            history._current = kept
            push_row(next_row())
            if per_bar:
                values = [update(bar) for update in per_bar]
                if per_bar_log is not None:
                    per_bar_log.append(values)
            else:
                values = _NO_VALUES
            if record_each is not None:
                record_each(bar, values)
            on_bar(bar)
            if deferred:
                self._deliver_deferred(deliver)

    # --- recording bars ----------------------------------------------------------------

    def _record_each(self) -> Callable[[BarReceived, list], None] | None:
        """``record(bar, per_bar_values)`` for recorders that take bar events one by one."""
        recorder = self.recorder
        if not recorder.records_bars or hasattr(recorder, "record_bar_block"):
            return None
        record, rows = recorder.record, self.strategy.indicator_rows
        ahead_names = tuple(i.name for i in self._ahead)
        per_bar_names = tuple(i.name for i in self._per_bar)

        def record_bar(bar: BarReceived, per_bar_values: list) -> None:
            record(bar)
            values = dict(zip(ahead_names, rows[bar[2]][-1], strict=True)) if ahead_names else {}
            values.update(zip(per_bar_names, per_bar_values, strict=True))
            record(BarProcessed(*bar, values))

        return record_bar

    def _records_blocks(self) -> bool:
        return self.recorder.records_bars and hasattr(self.recorder, "record_bar_block")

    def _record_block(self, walk: _Walk, start: int, end: int, per_bar_log: list | None) -> None:
        """Hand bars ``start:end`` of the chunk and their indicator values to the recorder."""
        values = walk.values[start:end]
        if self._per_bar:
            extra = np.array(per_bar_log[: end - start], dtype=np.float64)
            extra = extra.reshape(end - start, len(self._per_bar))
            values = np.hstack((values, extra))
        columns = {name: column[start:end] for name, column in walk.columns.items()}
        self.recorder.record_bar_block(
            BarBlock(
                bar_period=walk.bars[start][3],
                symbols=walk.symbols,
                **columns,  # ts, code, open, high, low, close, volume (BarChunk.columns)
                names=self._names,
                values=values,
            )
        )

    # --- the run -----------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Process every bar; strategy exceptions propagate to the caller."""
        tally = _Tally()
        self._wire(tally)
        strategy, broker, recorder = self.strategy, self.broker, self.recorder
        progress = _Progress(total=max(1, self.datafeed.total_bars()))
        lanes = self._lanes()
        chunks = self._chunks()
        try:
            for chunk in chunks:
                # Nothing a chunk builds holds a cycle; the collector would rescan its
                # hundreds of thousands of young objects again and again.
                with gc_paused():
                    try:
                        self._run_chunk(chunk, lanes, progress)
                    finally:
                        chunk.release()  # its bars go now, before the collector is back
                if progress.status == CANCELLED:
                    break
        finally:
            # End the feed's read (and its database transaction) now, also when the run
            # stops early: by cancellation or by an exception from the strategy.
            chunks.close()

        if self._deferred_fills:
            self._deliver_deferred(strategy.on_broker_response)
        strategy._current = None  # no new orders once the data has ended
        if progress.status == COMPLETED:
            broker.expire_all(progress.last_ts)
        recorder.flush()
        return RunOutcome(
            status=progress.status,
            bars=progress.done,
            orders=tally.orders,
            fills=tally.fills,
            account=self.account(),
        )

    def account(self) -> AccountingResult:
        """The account after the bars walked so far (final once the run has stopped, also
        when it stopped on an exception)."""
        if self._account is None:
            self._account = self.accounting.finish()
        return self._account

    def _run_chunk(self, chunk: BarChunk, lanes: dict[str, list], progress: _Progress) -> None:
        """Walk one chunk in sub-batches: cancellation checks, recording, progress."""
        record_each = self._record_each()
        in_blocks = self.recorder.records_bars and record_each is None
        should_cancel, on_progress = self.should_cancel, self.on_progress
        # A recorder that takes bars in blocks may ask for smaller ones (it writes one while
        # the next is walked); otherwise its block size says nothing about the walk.
        asked = getattr(self.recorder, "block_bars", None) if in_blocks else None
        ceiling = min(CANCEL_CHECK_BARS, asked or CANCEL_CHECK_BARS)
        progress.step = min(progress.step, ceiling)
        walk = self._prepare(chunk, lanes)
        start = marked = 0  # bars walked, bars marked to market
        while start < len(walk.bars):
            if should_cancel is not None and should_cancel():
                progress.status = CANCELLED
                self._mark(walk, marked, start)
                return
            end = min(start + progress.step, len(walk.bars))
            log = [] if in_blocks and self._per_bar else None
            began = _clock()
            try:
                self._walk(walk.bars[start:end], lanes, log, record_each)
            except BaseException:
                reached = self._reached(walk, start, end)
                self._mark(walk, marked, reached)
                if in_blocks:  # what was processed, up to the failing bar
                    if log is not None:
                        reached = min(reached, start + len(log))
                    self._record_block(walk, start, reached, log)
                # A failed run's progress tells how far it got (up to the failing bar).
                progress.done += reached - start
                if on_progress is not None:
                    on_progress(min(1.0, progress.done / progress.total))
                raise
            progress.step = _next_step(progress.step, end - start, _clock() - began, ceiling)
            if end - marked >= MARK_MIN_BARS or end == len(walk.bars):
                self._mark(walk, marked, end)
                marked = end
            if in_blocks:
                self._record_block(walk, start, end, log)
            progress.done += end - start
            progress.last_ts = walk.bars[end - 1][0]
            start = end
            if on_progress is not None:
                on_progress(min(1.0, progress.done / progress.total))

    def _mark(self, walk: _Walk, start: int, end: int) -> None:
        """Mark bars ``start:end`` of the chunk to market with the fills made on them."""
        columns = walk.columns
        self.accounting.on_bars(
            ts=columns["ts"][start:end],
            code=columns["code"][start:end],
            symbols=walk.symbols,
            open=columns["open"][start:end],
            high=columns["high"][start:end],
            low=columns["low"][start:end],
            close=columns["close"][start:end],
        )

    def _reached(self, walk: _Walk, start: int, end: int) -> int:
        """The end of the bars processed when a sub-batch stopped on an exception: up to and
        including the bar being processed (the strategy's current bar)."""
        current = self.strategy._current
        for index in range(start, end):
            if walk.bars[index] is current:
                return index + 1
        return start
