"""Position and average entry price per symbol, driven by fills, with realised P&L."""

from __future__ import annotations

# Quantities closer to zero than this count as flat (0.1 + 0.2 - 0.3 is not 0.0 in floats).
FLAT_EPSILON = 1e-9


class PositionBook:
    """Signed position and average entry price per symbol.

    Adding in the direction of the position averages the entry price; reducing keeps it;
    a fill that flips the position opens the remainder at the fill price; flat means 0.
    """

    __slots__ = ("_positions", "_avg_prices")

    def __init__(self) -> None:
        self._positions: dict[str, float] = {}
        self._avg_prices: dict[str, float] = {}

    def position(self, symbol: str) -> float:
        return self._positions.get(symbol, 0.0)

    def avg_price(self, symbol: str) -> float:
        return self._avg_prices.get(symbol, 0.0)

    def positions(self) -> dict[str, float]:
        return dict(self._positions)

    def apply(self, symbol: str, signed_quantity: float, price: float) -> float:
        """Book a fill (positive buys, negative sells); return the P&L it realised."""
        old = self._positions.get(symbol, 0.0)
        old_avg = self._avg_prices.get(symbol, 0.0)
        new = old + signed_quantity
        if abs(new) < FLAT_EPSILON:
            new = 0.0
        realised = 0.0
        if old == 0.0:
            avg = price
        elif (old > 0) == (signed_quantity > 0):
            avg = (old_avg * abs(old) + price * abs(signed_quantity)) / abs(new)
        else:
            closed = min(abs(signed_quantity), abs(old))
            realised = closed * (price - old_avg) * (1.0 if old > 0 else -1.0)
            flipped = new != 0.0 and (new > 0) != (old > 0)
            avg = price if flipped else old_avg
        if new == 0.0:
            avg = 0.0
        self._positions[symbol] = new
        self._avg_prices[symbol] = avg
        return realised
