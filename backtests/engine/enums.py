"""Enumerations shared by events, strategies and the broker."""

from __future__ import annotations

import enum


class BarPeriod(enum.Enum):
    """Bar periods a backtest can run on; ``rtype`` is Databento's OHLCV record type."""

    SECOND = 32
    MINUTE = 33
    HOUR = 34
    DAY = 35

    @property
    def rtype(self) -> int:
        return self.value

    @property
    def nanoseconds(self) -> int:
        return _PERIOD_NS[self]

    @classmethod
    def from_rtype(cls, rtype: int) -> BarPeriod:
        """The period of an rtype; ``ValueError`` names the valid ones otherwise."""
        try:
            return cls(rtype)
        except ValueError:
            valid = ", ".join(f"{p.value} ({p.name})" for p in cls)
            raise ValueError(f"rtype {rtype!r} is not a bar period; use one of {valid}") from None


_PERIOD_NS = {
    BarPeriod.SECOND: 1_000_000_000,
    BarPeriod.MINUTE: 60_000_000_000,
    BarPeriod.HOUR: 3_600_000_000_000,
    BarPeriod.DAY: 86_400_000_000_000,
}


class OrderType(enum.Enum):
    MARKET = enum.auto()
    LIMIT = enum.auto()
    STOP = enum.auto()
    STOP_LIMIT = enum.auto()


class TradeSide(enum.Enum):
    BUY = enum.auto()
    SELL = enum.auto()

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the sign of the position change."""
        return 1 if self is TradeSide.BUY else -1


class ActionType(enum.Enum):
    """What an order is meant to do to the position (recorded, not enforced)."""

    ENTRY = enum.auto()
    EXIT = enum.auto()
    ENTRY_LONG = enum.auto()
    ENTRY_SHORT = enum.auto()
    EXIT_LONG = enum.auto()
    EXIT_SHORT = enum.auto()
    ADD_LONG = enum.auto()
    ADD_SHORT = enum.auto()
    REDUCE_LONG = enum.auto()
    REDUCE_SHORT = enum.auto()
    FLATTEN = enum.auto()
    STOP_LOSS_LONG = enum.auto()
    STOP_LOSS_SHORT = enum.auto()
    TAKE_PROFIT_LONG = enum.auto()
    TAKE_PROFIT_SHORT = enum.auto()
    PARTIAL_TAKE_PROFIT_LONG = enum.auto()
    PARTIAL_TAKE_PROFIT_SHORT = enum.auto()


class RejectionReason(enum.Enum):
    """Why the broker refused a submission, modification or cancellation."""

    INVALID_QUANTITY = enum.auto()
    INVALID_LIMIT_PRICE = enum.auto()
    INVALID_STOP_PRICE = enum.auto()
    UNKNOWN_ORDER = enum.auto()
    ORDER_NOT_MODIFIABLE = enum.auto()
    UNKNOWN_SYMBOL = enum.auto()
    UNKNOWN = enum.auto()


class FillTiming(enum.Enum):
    """When a strategy learns of the fills the broker made at a bar's open.

    The broker always works through bar t (with the orders as they stood before t) before
    the strategy sees bar t, so fill prices and times never depend on this setting; only
    what ``on_bar(t)`` knows about its position does.
    """

    NEXT_BAR = "next_bar"
    """Fills at t's open reach the strategy right after ``on_bar(t)``: the behaviour of
    OneSecondTrader 0.75, whose strategy thread handled bar t before its fills arrived.
    The default, so results match the original."""

    SAME_BAR = "same_bar"
    """Fills at t's open reach the strategy before ``on_bar(t)``: the position seen at the
    close of t includes them."""
