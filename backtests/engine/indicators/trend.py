"""Wilder's directional movement (+DI, -DI, ADX) and the parabolic SAR."""

from __future__ import annotations

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, PlotHint
from backtests.engine.indicators.volatility import true_range


class _Directional:
    """Per-symbol Wilder-smoothed +DM, -DM and TR (sums of the first ``period``, then
    ``s - s/n + x``). ``step`` returns (+DI, -DI) or None during warm-up."""

    __slots__ = ("period", "prev_high", "prev_low", "prev_close", "count", "plus", "minus", "tr")

    def __init__(self, period: int, bar: BarReceived) -> None:
        self.period = period
        self.prev_high, self.prev_low, self.prev_close = bar[5], bar[6], bar[7]
        self.count = 0
        self.plus = self.minus = self.tr = 0.0

    def step(self, bar: BarReceived) -> tuple[float, float] | None:
        high, low = bar[5], bar[6]
        tr = true_range(high, low, self.prev_close)
        up_move = high - self.prev_high
        down_move = self.prev_low - low
        plus_dm = up_move if up_move > down_move and up_move > 0.0 else 0.0
        minus_dm = down_move if down_move > up_move and down_move > 0.0 else 0.0
        self.prev_high, self.prev_low, self.prev_close = high, low, bar[7]
        self.count += 1
        n = self.period
        if self.count < n:
            self.plus += plus_dm
            self.minus += minus_dm
            self.tr += tr
            return None
        if self.count == n:
            self.plus += plus_dm
            self.minus += minus_dm
            self.tr += tr
        else:
            self.plus = self.plus - self.plus / n + plus_dm
            self.minus = self.minus - self.minus / n + minus_dm
            self.tr = self.tr - self.tr / n + tr
        if self.tr <= 1e-12:
            return 0.0, 0.0
        return 100.0 * self.plus / self.tr, 100.0 * self.minus / self.tr


class _DirectionalIndicator(Indicator, register=False):
    default_plot = PlotHint(placement="panel")

    def __init__(self, period: int = 14, **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self._state: dict[str, _Directional] = {}

    def _di(self, bar: BarReceived) -> tuple[float, float] | None:
        state = self._state.get(bar[2])
        if state is None:
            self._state[bar[2]] = _Directional(self.period, bar)
            return None
        return state.step(bar)


class PlusDI(_DirectionalIndicator):
    """+DI: smoothed upward movement as a percentage of smoothed true range."""

    def __init__(self, period: int = 14, **kwargs) -> None:
        super().__init__(period, **kwargs)
        self.name = f"+DI({self.period})"

    def _compute(self, bar: BarReceived) -> float:
        di = self._di(bar)
        return NAN if di is None else di[0]


class MinusDI(_DirectionalIndicator):
    """-DI: smoothed downward movement as a percentage of smoothed true range."""

    def __init__(self, period: int = 14, **kwargs) -> None:
        super().__init__(period, **kwargs)
        self.name = f"-DI({self.period})"

    def _compute(self, bar: BarReceived) -> float:
        di = self._di(bar)
        return NAN if di is None else di[1]


class ADX(_DirectionalIndicator):
    """Average directional index: DX averaged over ``period`` values, then Wilder-smoothed.

    The first value is on bar ``2 × period``.
    """

    def __init__(self, period: int = 14, **kwargs) -> None:
        super().__init__(period, **kwargs)
        self._adx: dict[str, list] = {}  # symbol -> [dx_count, dx_sum_or_adx]
        self.name = f"ADX({self.period})"

    def _compute(self, bar: BarReceived) -> float:
        di = self._di(bar)
        if di is None:
            return NAN
        plus, minus = di
        total = plus + minus
        dx = abs(plus - minus) / total * 100.0 if total > 1e-12 else 0.0
        state = self._adx.get(bar[2])
        if state is None:
            state = self._adx[bar[2]] = [0, 0.0]
        state[0] += 1
        n = self.period
        if state[0] < n:
            state[1] += dx
            return NAN
        if state[0] == n:
            state[1] = (state[1] + dx) / n
        else:
            state[1] = (state[1] * (n - 1) + dx) / n
        return state[1]


class _SarState:
    __slots__ = ("count", "is_long", "sar", "ep", "af", "highs", "lows")

    def __init__(self) -> None:
        self.count = 0
        self.is_long = True
        self.sar = self.ep = self.af = 0.0
        self.highs: list[float] = []  # the last two highs and lows, oldest first
        self.lows: list[float] = []


class ParabolicSAR(Indicator):
    """Wilder's parabolic stop and reverse.

    Bar 2 starts the trend: long if its high >= bar 1's high (SAR = bar 1's low, extreme
    point = bar 2's high), else short. Afterwards SAR += af × (ep - SAR), clamped to the
    last two lows (long) or highs (short); a bar crossing the SAR reverses the trend (SAR =
    old extreme point, af reset); a new extreme point raises af by ``af_step`` up to ``af_max``.
    """

    default_plot = PlotHint(placement="overlay", style="dots")

    def __init__(
        self, af_start: float = 0.02, af_step: float = 0.02, af_max: float = 0.2, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.af_start, self.af_step, self.af_max = float(af_start), float(af_step), float(af_max)
        self._state: dict[str, _SarState] = {}
        self.name = f"PSAR({self.af_start:g}, {self.af_step:g}, {self.af_max:g})"

    def _compute(self, bar: BarReceived) -> float:
        s = self._state.get(bar[2])
        if s is None:
            s = self._state[bar[2]] = _SarState()
        high, low = bar[5], bar[6]
        s.count += 1
        if s.count == 1:
            s.highs, s.lows = [high], [low]
            return NAN
        if s.count == 2:
            prev_high, prev_low = s.highs[-1], s.lows[-1]
            if high >= prev_high:
                s.is_long, s.sar, s.ep = True, prev_low, high
            else:
                s.is_long, s.sar, s.ep = False, prev_high, low
            s.af = self.af_start
            s.highs, s.lows = [prev_high, high], [prev_low, low]
            return s.sar
        sar = s.sar + s.af * (s.ep - s.sar)
        if s.is_long:
            sar = min(sar, s.lows[0], s.lows[1])
            if low < sar:
                s.is_long, sar, s.ep, s.af = False, s.ep, low, self.af_start
            elif high > s.ep:
                s.ep = high
                s.af = min(s.af + self.af_step, self.af_max)
        else:
            sar = max(sar, s.highs[0], s.highs[1])
            if high > sar:
                s.is_long, sar, s.ep, s.af = True, s.ep, high, self.af_start
            elif low < s.ep:
                s.ep = low
                s.af = min(s.af + self.af_step, self.af_max)
        s.sar = sar
        s.highs = [s.highs[1], high]
        s.lows = [s.lows[1], low]
        return sar
