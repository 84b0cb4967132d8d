"""Runs one strategy over one datafeed with the simulated broker.

Per bar: the broker fills the symbol's eligible pending orders (skipped when there are
none), then the strategy's indicators update, then ``strategy.on_bar``. The strategy learns
of those fills before or after its ``on_bar`` as ``FillTiming`` says (after, by default, as
OneSecondTrader 0.75 did). Order requests,
broker responses and fills flow synchronously through a ``Dispatcher`` to the recorder,
the broker, the strategy and the run's P&L tally, in that subscription order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from backtests.engine.broker import SimulatedBroker
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
from backtests.engine.memory import NullRecorder
from backtests.engine.positions import PositionBook
from backtests.engine.protocols import Datafeed, Recorder
from backtests.engine.strategies.base import StrategyBase

COMPLETED = "completed"
# Indicators that compute many bars at once (``bind_symbol_batched``) get blocks of at least
# this many bars; cancellation is still checked between the feed's (smaller) batches.
PREPARE_BLOCK_BARS = 16_384
CANCELLED = "cancelled"


@dataclass(frozen=True)
class RunOutcome:
    status: str  # "completed" | "cancelled"
    bars: int
    orders: int  # submissions
    fills: int
    net_pnl: float  # realised P&L after commissions, all symbols
    gross_pnl: float


class _Tally:
    """Counts submissions and fills and books realised P&L from fills."""

    def __init__(self) -> None:
        self.orders = 0
        self.fills = 0
        self.gross = 0.0
        self.commission = 0.0
        self.book = PositionBook()

    def on_submission(self, event: OrderSubmissionRequest) -> None:
        self.orders += 1

    def on_fill(self, fill: FillEvent) -> None:
        self.fills += 1
        signed = fill.quantity_filled if fill.side.sign > 0 else -fill.quantity_filled
        self.gross += self.book.apply(fill.symbol, signed, fill.fill_price)
        self.commission += fill.commission


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
    ) -> None:
        self.strategy = strategy
        self.datafeed = datafeed
        self.broker = broker
        self.recorder = recorder if recorder is not None else NullRecorder()
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.fill_timing = fill_timing
        self._deferred_fills: list[FillEvent] = []

    def _wire(self, tally: _Tally) -> Dispatcher:
        dispatcher = Dispatcher()
        broker, strategy = self.broker, self.strategy
        dispatcher.subscribe(Event, self.recorder.record)
        dispatcher.subscribe(OrderSubmissionRequest, tally.on_submission)
        dispatcher.subscribe(OrderSubmissionRequest, broker.on_submission)
        dispatcher.subscribe(OrderModificationRequest, broker.on_modification)
        dispatcher.subscribe(OrderCancellationRequest, broker.on_cancellation)
        dispatcher.subscribe(FillEvent, tally.on_fill)
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
        strategy.bind(dispatcher.publish)
        return dispatcher

    def _deliver_deferred(self, deliver: Callable[[FillEvent], None]) -> None:
        fills = list(self._deferred_fills)
        self._deferred_fills.clear()
        for fill in fills:
            deliver(fill)

    def _lanes(self) -> tuple[dict[str, tuple], dict[str, tuple]]:
        """Per strategy symbol: its bar deque and its indicators' updates, bound once; and
        the ``prepare`` functions of the indicators that compute a block of bars at once.

        The hot loop then does one dict lookup per bar instead of one per indicator (and
        one for the bar history); unknown symbols get no lane and are skipped.
        """
        strategy = self.strategy
        lanes: dict[str, tuple] = {}
        prepares: dict[str, tuple] = {}
        for symbol in strategy.symbols:
            updates, symbol_prepares = [], []
            for indicator in strategy.indicators:
                batched = indicator.bind_symbol_batched(symbol)
                if batched is None:
                    updates.append(indicator.bind_symbol(symbol))
                else:
                    symbol_prepares.append(batched[0])
                    updates.append(batched[1])
            lanes[symbol] = (strategy.bar.bars_of(symbol), tuple(updates))
            if symbol_prepares:
                prepares[symbol] = tuple(symbol_prepares)
        return lanes, prepares

    @staticmethod
    def _blocks(batches: Iterable[Sequence[BarReceived]]) -> Iterator[list[Sequence[BarReceived]]]:
        """The feed's batches, gathered into blocks of at least ``PREPARE_BLOCK_BARS`` bars."""
        block: list[Sequence[BarReceived]] = []
        size = 0
        for batch in batches:
            block.append(batch)
            size += len(batch)
            if size >= PREPARE_BLOCK_BARS:
                yield block
                block, size = [], 0
        if block:
            yield block

    @staticmethod
    def _prepare(block: list[Sequence[BarReceived]], prepares: dict[str, tuple]) -> None:
        """Hand each symbol's bars of the block to its indicators' ``prepare``, in order."""
        groups: dict[str, list[BarReceived]] = {symbol: [] for symbol in prepares}
        appends = {symbol: bars.append for symbol, bars in groups.items()}
        add = appends.get
        for batch in block:
            for bar in batch:
                append = add(bar[2])
                if append is not None:
                    append(bar)
        for symbol, bars in groups.items():
            if bars:
                for prepare in prepares[symbol]:
                    prepare(bars)

    def _bar_recorder(self) -> Callable[[BarReceived, list[float]], None]:
        """``record_bar(bar, values)``: record the bar and its processed twin, ``values``
        being the strategy's indicator values on it, in registration order.

        Uses the recorder's optional ``bar_pair_writer`` (one call per bar, no event tuple
        or dict built) when it offers one, else sends ``BarReceived`` and ``BarProcessed``.
        """
        names = [ind.name for ind in self.strategy.indicators]
        make_writer = getattr(self.recorder, "bar_pair_writer", None)
        write = make_writer(names) if make_writer else None
        if write is not None:
            return write
        record = self.recorder.record

        def record_events(bar: BarReceived, values: list[float]) -> None:
            record(bar)
            record(BarProcessed(*bar, dict(zip(names, values, strict=True))))

        return record_events

    def run(self) -> RunOutcome:
        """Process every bar; strategy exceptions propagate to the caller."""
        tally = _Tally()
        self._wire(tally)
        strategy, broker, recorder = self.strategy, self.broker, self.recorder
        books = broker.books
        broker_on_bar = broker.on_bar
        history = strategy.bar
        lanes, prepares = self._lanes()
        lane_of = lanes.get
        on_bar = strategy.on_bar
        deferred = self._deferred_fills
        deliver = strategy.on_broker_response
        record_bar = self._bar_recorder() if recorder.records_bars else None
        on_progress, should_cancel = self.on_progress, self.should_cancel
        total = max(1, self.datafeed.total_bars())
        done = 0
        last_ts = 0
        status = COMPLETED

        batches = self.datafeed.batches()
        blocks = self._blocks(batches) if prepares else ([batch] for batch in batches)
        try:
            for block in blocks:
                if prepares:
                    self._prepare(block, prepares)
                for batch in block:
                    if should_cancel is not None and should_cancel():
                        status = CANCELLED
                        break
                    done += len(batch)  # minus the bars of other symbols, below
                    for bar in batch:
                        symbol = bar[2]
                        lane = lane_of(symbol)
                        if lane is None:
                            done -= 1
                            continue
                        strategy._current = bar
                        if symbol in books:
                            broker_on_bar(bar)
                        bars, updates = lane
                        bars.append(bar)  # what history.push(bar) does, with the deque bound
                        history._current = bars
                        if record_bar is None:
                            for update in updates:
                                update(bar)
                        else:  # the values the updates return are the ones recorded
                            record_bar(bar, [update(bar) for update in updates])
                        on_bar(bar)
                        if deferred:
                            self._deliver_deferred(deliver)
                    if batch:
                        last_ts = batch[-1][0]
                    if on_progress is not None:
                        on_progress(min(1.0, done / total))
                if status == CANCELLED:
                    break
        finally:
            # End the feed's read (and its database transaction) now, also when the run
            # stops early: by cancellation or by an exception from the strategy.
            close = getattr(batches, "close", None)
            if close is not None:
                close()

        if deferred:
            self._deliver_deferred(deliver)
        strategy._current = None  # no new orders once the data has ended
        if status == COMPLETED:
            broker.expire_all(last_ts)
        recorder.flush()
        return RunOutcome(
            status=status,
            bars=done,
            orders=tally.orders,
            fills=tally.fills,
            net_pnl=tally.gross - tally.commission,
            gross_pnl=tally.gross,
        )
