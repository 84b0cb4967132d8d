"""The strategy base class: parameters, indicators, positions and order submission.

A strategy only *submits* requests; the broker accepts, rejects and fills them and the
strategy learns the outcome through broker responses (``on_fill``, ``on_order_rejected``).
Everything runs synchronously inside the orchestrator's loop, so a strategy needs no locks.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar

from backtests.engine.accounting import DEFAULT_CAPITAL
from backtests.engine.enums import ActionType, BarPeriod, OrderType, TradeSide
from backtests.engine.events import (
    BarReceived,
    BrokerResponse,
    CancellationAccepted,
    FillEvent,
    ModificationAccepted,
    ModificationRejected,
    OrderCancellationRequest,
    OrderExpired,
    OrderModificationRequest,
    OrderRejected,
    OrderSubmissionRequest,
    Rejected,
)
from backtests.engine.indicators.base import DEFAULT_COLOR, Indicator
from backtests.engine.positions import PositionBook
from backtests.engine.strategies.constraints import (
    Constraint,
    ConstraintError,
    constraint_parse,
    constraints_violation,
)
from backtests.engine.strategies.history import BarHistory
from backtests.engine.strategies.params import ParamError, ParamSpec

__all__ = ["OpenOrder", "ParamError", "ParamSpec", "StrategyBase", "strategy_classes"]

# Colours given to indicators that did not choose one, in registration order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")

FILLED_EPSILON = 1e-9  # an order with less than this left has filled (as the broker says)
NOT_IN_A_BAR = (
    "orders can only be submitted while a bar is processed (in on_bar or a response hook)"
)

_strategy_classes: dict[str, type[StrategyBase]] = {}


def strategy_classes() -> dict[str, type[StrategyBase]]:
    """The registered strategy classes by class name (registration order)."""
    return dict(_strategy_classes)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order the strategy submitted that has not filled, been cancelled or expired.

    ``quantity`` is the order's total (as submitted or modified); under a volume
    participation cap an order can fill in parts: ``filled_quantity`` says how much has,
    ``remaining_quantity`` what is still working.
    """

    order_id: str
    symbol: str
    order_type: OrderType
    side: TradeSide
    quantity: float
    limit_price: float | None
    stop_price: float | None
    action: ActionType | None
    signal: str | None
    filled_quantity: float = 0.0

    @property
    def remaining_quantity(self) -> float:
        return self.quantity - self.filled_quantity


class StrategyBase:
    """Subclass, set ``name`` and ``parameters`` (with a ``bar_period``), implement ``on_bar``.

    Subclasses register by class name (``class X(StrategyBase, register=False)`` opts out;
    names starting with ``_`` are not registered).
    """

    name: ClassVar[str] = ""
    parameters: ClassVar[dict[str, ParamSpec]] = {}
    # Rules between parameters, e.g. ("fast_period < slow_period",): a parameter set that
    # breaks one is refused wherever parameters are given (page, API, command, studies).
    constraints: ClassVar[tuple[str, ...]] = ()
    bar_history: ClassVar[int] = 256
    _rules: ClassVar[tuple[Constraint, ...]] = ()

    def __init_subclass__(cls, register: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__.startswith("_"):
            return
        spec = cls.parameters.get("bar_period")
        if spec is None or not isinstance(spec.default, BarPeriod):
            raise TypeError(
                f"strategy {cls.__name__}: parameters must contain 'bar_period' "
                "with a BarPeriod default"
            )
        for key, value in cls.parameters.items():
            if not isinstance(value, ParamSpec):
                raise TypeError(f"strategy {cls.__name__}: parameter {key!r} is not a ParamSpec")
            if not key.isidentifier() or key in _RESERVED:
                raise TypeError(
                    f"strategy {cls.__name__}: parameter name {key!r} is not allowed "
                    "(must be an identifier not used by StrategyBase)"
                )
        try:
            cls._rules = tuple(
                constraint_parse(text, known=cls.parameters) for text in cls.constraints
            )
        except ConstraintError as exc:
            raise TypeError(f"strategy {cls.__name__}: {exc}") from None
        if not cls.name:
            cls.name = cls.__name__
        if register:
            if cls.on_bar is StrategyBase.on_bar:
                raise TypeError(f"strategy {cls.__name__}: must define on_bar(self, bar)")
            _strategy_classes[cls.__name__] = cls

    def __init__(self, *, symbols: Sequence[str], params: Mapping[str, Any] | None = None) -> None:
        if (
            isinstance(symbols, str)
            or not symbols
            or not all(isinstance(s, str) and s for s in symbols)
        ):
            raise ValueError(
                f"symbols must be a non-empty list of non-empty strings, got {symbols!r}"
            )
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.params: dict[str, Any] = self.resolve_params(params or {})
        for key, value in self.params.items():
            setattr(self, key, value)
        self.bar = BarHistory(self.bar_history)
        self._book = PositionBook()
        self._indicators: list[Indicator] = []
        # symbol -> rows of the computed-ahead indicators' values (one column each), shared
        # with those indicators: revealing a bar's values is one append per bar.
        self.indicator_rows: dict[str, deque[tuple[float, ...]]] = {}
        self._open: dict[str, OpenOrder] = {}
        self._modifications: dict[str, OrderModificationRequest] = {}
        self._order_seq = 0
        self._current: BarReceived | None = None
        self._publish: Callable[[Any], None] | None = None
        self.capital = DEFAULT_CAPITAL
        self._cash = DEFAULT_CAPITAL
        self.setup()

    # --- parameters ------------------------------------------------------------------

    @classmethod
    def resolve_params(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and coerce the given values and fill defaults for the others."""
        if not isinstance(raw, Mapping):
            raise ParamError("strategy_params", f"expected an object of name: value, got {raw!r}")
        known = cls.parameters
        for key in sorted(raw, key=str):
            if key not in known:
                raise ParamError(str(key), f"unknown parameter {key!r}; known: {', '.join(known)}")
        resolved = {
            key: spec.coerce(key, raw[key]) if key in raw else spec.default
            for key, spec in known.items()
        }
        try:
            problem = constraints_violation(cls._rules, resolved)
        except ConstraintError as exc:
            problem = str(exc)
        if problem is not None:
            raise ParamError("constraints", problem)
        return resolved

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """``{"id", "name", "parameters": [...]}`` for the API and forms."""
        return {
            "id": cls.__name__,
            "name": cls.name,
            "parameters": [spec.to_schema(key) for key, spec in cls.parameters.items()],
            "constraints": [rule.text for rule in cls._rules],
        }

    @classmethod
    def params_to_json(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Resolved parameter values with enums as NAMES (for run configs)."""
        return {k: v.name if isinstance(v, enum.Enum) else v for k, v in params.items()}

    # --- hooks -------------------------------------------------------------------------

    def setup(self) -> None:
        """Register indicators with ``add_indicator``; called at the end of ``__init__``."""

    def on_bar(self, bar: BarReceived) -> None:
        """Trade on ``bar`` (indicators are already updated).

        Every registered strategy defines it (checked when the class is defined).
        """

    def on_fill(self, fill: FillEvent) -> None:
        """Called after a fill was booked into the position."""

    def on_order_rejected(self, rejected: Rejected) -> None:
        """Called when a submission, modification or cancellation was rejected."""

    def on_order_expired(self, expired: OrderExpired) -> None:
        """Called when a pending order expired (at the end of the data)."""

    # --- state -------------------------------------------------------------------------

    def add_indicator(self, indicator: Indicator) -> Indicator:
        """Register ``indicator`` so it is updated on every bar before ``on_bar``.

        A name already taken gets a " #2" (" #3", ...) suffix; colours not chosen by the
        caller come from a palette in registration order."""
        if any(existing is indicator for existing in self._indicators):
            raise ValueError(f"indicator {indicator.name!r} is already registered")
        names = {existing.name for existing in self._indicators}
        if indicator.name in names:  # e.g. SMA(20) twice: keys of recorded bars must differ
            n = 2
            while f"{indicator.name} #{n}" in names:
                n += 1
            indicator.name = f"{indicator.name} #{n}"
        if not indicator.color_given and indicator.plot.color == DEFAULT_COLOR:
            indicator.plot = replace(
                indicator.plot, color=PALETTE[len(self._indicators) % len(PALETTE)]
            )
        if indicator.computes_ahead:
            if any(self.indicator_rows.values()):
                raise RuntimeError(
                    f"indicator {indicator.name!r} added after bars were processed;"
                    " register indicators in setup()"
                )
            ahead = [ind for ind in self._indicators if ind.computes_ahead]
            keep = max([indicator.max_history, *(ind.max_history for ind in ahead)])
            self.indicator_rows.clear()
            self.indicator_rows.update({s: deque(maxlen=keep) for s in self.symbols})
            indicator.attach(self.indicator_rows, len(ahead))
        self._indicators.append(indicator)
        return indicator

    @property
    def indicators(self) -> Sequence[Indicator]:
        return tuple(self._indicators)

    @property
    def ahead_indicators(self) -> tuple[Indicator, ...]:
        """The indicators the engine computes a chunk ahead, in column order of the rows."""
        return tuple(ind for ind in self._indicators if ind.computes_ahead)

    @property
    def per_bar_indicators(self) -> tuple[Indicator, ...]:
        """Indicators with their own ``update``: the engine calls it on every bar."""
        return tuple(ind for ind in self._indicators if not ind.computes_ahead)

    @property
    def symbol(self) -> str:
        """The symbol of the bar being processed ("" before the first bar)."""
        return "" if self._current is None else self._current[2]

    @property
    def position(self) -> float:
        """Signed position of the current symbol."""
        return self._book.position(self.symbol)

    @property
    def avg_price(self) -> float:
        """Average entry price of the current symbol's position (0.0 when flat)."""
        return self._book.avg_price(self.symbol)

    def position_of(self, symbol: str) -> float:
        return self._book.position(symbol)

    def avg_price_of(self, symbol: str) -> float:
        return self._book.avg_price(symbol)

    @property
    def cash(self) -> float:
        """Cash: the capital, less what fills bought, plus what they sold, less commissions
        (of the fills the strategy has been told about). Negative cash is borrowing."""
        return self._cash

    @property
    def equity(self) -> float:
        """Cash plus every position valued at its symbol's last close the strategy saw."""
        value = 0.0
        for symbol, position in self._book.positions().items():
            if position:
                value += position * self.bar.close[symbol, -1]
        return self._cash + value

    def quantity_for(
        self, fraction: float, *, symbol: str | None = None, whole: bool = True
    ) -> float:
        """The quantity that ``fraction`` of the equity buys at ``symbol``'s last close
        (the current symbol by default); rounded down to whole units unless ``whole`` is
        False. 0.0 when there is no close yet or the equity is not positive."""
        price = self.bar.close[symbol or self.symbol, -1]
        equity = self.equity
        if not (price > 0 and equity > 0 and fraction > 0):
            return 0.0
        quantity = equity * fraction / price
        return float(int(quantity)) if whole else quantity

    @property
    def open_orders(self) -> Mapping[str, OpenOrder]:
        """Orders not yet filled, cancelled or expired, by system order id."""
        return MappingProxyType(self._open)

    # --- requests ----------------------------------------------------------------------

    def submit_order(
        self,
        order_type: OrderType,
        side: TradeSide,
        quantity: float,
        limit_price: float | None = None,
        stop_price: float | None = None,
        action: ActionType | None = None,
        signal: str | None = None,
        symbol: str | None = None,
    ) -> str:
        """Submit an order (for the current symbol unless ``symbol`` names another of the
        strategy's symbols); returns its system order id."""
        bar = self._require_bar()
        if symbol is None:
            symbol = bar[2]
        elif symbol not in self.symbols:
            raise ValueError(
                f"symbol {symbol!r} is not one of this strategy's symbols {self.symbols}"
            )
        self._order_seq += 1
        order_id = f"O{self._order_seq:06d}"
        self._open[order_id] = OpenOrder(
            order_id, symbol, order_type, side, quantity, limit_price, stop_price, action, signal
        )
        self._publish(
            OrderSubmissionRequest(
                ts_event_ns=bar[0],
                ts_created_ns=bar[0],
                system_order_id=order_id,
                symbol=symbol,
                order_type=order_type,
                side=side,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                action=action,
                signal=signal,
            )
        )
        return order_id

    def submit_modification(
        self,
        order_id: str,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> None:
        """Ask the broker to change a pending order (``None`` keeps a value)."""
        bar = self._require_bar()
        order = self._open.get(order_id)
        request = OrderModificationRequest(
            ts_event_ns=bar[0],
            ts_created_ns=bar[0],
            system_order_id=order_id,
            symbol=order.symbol if order else bar[2],
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
        )
        self._modifications[order_id] = request
        self._publish(request)

    def submit_cancellation(self, order_id: str) -> None:
        """Ask the broker to cancel a pending order."""
        bar = self._require_bar()
        order = self._open.get(order_id)
        self._publish(
            OrderCancellationRequest(
                ts_event_ns=bar[0],
                ts_created_ns=bar[0],
                system_order_id=order_id,
                symbol=order.symbol if order else bar[2],
            )
        )

    def _require_bar(self) -> BarReceived:
        if self._current is None or self._publish is None:
            raise RuntimeError(NOT_IN_A_BAR)
        return self._current

    # --- wiring (called by the orchestrator) ---------------------------------------------

    def bind(self, publish: Callable[[Any], None], *, capital: float = DEFAULT_CAPITAL) -> None:
        """Connect the strategy's requests to the run's dispatcher; start with ``capital``."""
        self._publish = publish
        self.capital = self._cash = float(capital)

    def on_broker_response(self, event: BrokerResponse) -> None:
        """Keep open orders and positions in step with the broker, then call the hooks."""
        order_id = event.associated_order_id
        if isinstance(event, FillEvent):
            self._book_fill_quantity(order_id, event.quantity_filled)
            signed = (
                event.quantity_filled if event.side is TradeSide.BUY else -event.quantity_filled
            )
            self._book.apply(event.symbol, signed, event.fill_price)
            self._cash -= signed * event.fill_price + event.commission
            self.on_fill(event)
        elif isinstance(event, ModificationAccepted):
            self._apply_modification(order_id)
        elif isinstance(event, (CancellationAccepted, OrderExpired)):
            self._open.pop(order_id, None)
            if isinstance(event, OrderExpired):
                self.on_order_expired(event)
        elif isinstance(event, Rejected):
            if isinstance(event, OrderRejected):
                self._open.pop(order_id, None)
            elif isinstance(event, ModificationRejected):
                self._modifications.pop(order_id, None)
            self.on_order_rejected(event)

    def _book_fill_quantity(self, order_id: str, quantity: float) -> None:
        """A fill of the whole rest closes the open order; a partial fill reduces it."""
        order = self._open.get(order_id)
        if order is None:
            return
        filled = order.filled_quantity + quantity
        if order.quantity - filled <= FILLED_EPSILON:
            del self._open[order_id]
        else:
            self._open[order_id] = replace(order, filled_quantity=filled)

    def _apply_modification(self, order_id: str) -> None:
        request = self._modifications.pop(order_id, None)
        order = self._open.get(order_id)
        if request is None or order is None:
            return
        self._open[order_id] = OpenOrder(
            order_id,
            order.symbol,
            order.order_type,
            order.side,
            order.quantity if request.quantity is None else request.quantity,
            order.limit_price if request.limit_price is None else request.limit_price,
            order.stop_price if request.stop_price is None else request.stop_price,
            order.action,
            order.signal,
            order.filled_quantity,
        )


# Attribute names a parameter may not take (it would overwrite the strategy's machinery).
_RESERVED = frozenset(dir(StrategyBase)) | {
    "symbols",
    "params",
    "bar",
    "indicator_rows",
    "capital",
}
