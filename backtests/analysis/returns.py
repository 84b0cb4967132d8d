"""Statistics of daily returns: the definitions behind every return figure a user sees.

A run's daily returns are those of its equity at the end of each trading day (a UTC day with
at least one bar of the run's symbols; days without a trade count too), the first one against
the starting capital: ``r_d = E_d / E_{d-1} - 1`` with ``E_0`` = capital. With ``n`` daily
returns and ``TRADING_DAYS_PER_YEAR`` = 252:

- total return = E_n / capital - 1;
- CAGR = (E_n / capital) ** (252 / n) - 1 (years counted in trading days);
- annualised volatility = std(r, ddof=1) × √252;
- Sharpe = mean(r - rf_d) / std(r - rf_d, ddof=1) × √252, with the daily risk-free rate
  rf_d = (1 + rf) ** (1/252) - 1 from the annual rate rf (0 by default);
- Sortino = mean(r - rf_d) × 252 / (√mean(min(r - rf_d, 0)²) × √252);
- max drawdown = the largest fall of equity from its running peak, as a fraction of the peak;
- Calmar = CAGR / max drawdown;
- against a benchmark's daily returns b: beta = cov(r, b) / var(b), correlation = corr(r, b).

These are the formulas of empyrical (Quantopian), which the tests use as a second opinion.
Ratios that need a spread of returns are undefined (None) with fewer than
``MIN_DAYS_FOR_RATIOS`` returns, and the caller says why; a zero spread gives None as well.
"""

from __future__ import annotations

import math

import numpy as np

TRADING_DAYS_PER_YEAR = 252
MIN_DAYS_FOR_RATIOS = 20
_MIN_STD = 1e-12  # a spread below this is float noise around a constant


def daily_returns(equity: np.ndarray, start: float) -> np.ndarray:
    """Returns of a daily equity series, the first against ``start``."""
    values = np.asarray(equity, dtype=float)
    if values.size == 0:
        return values
    previous = np.r_[start, values[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(previous != 0, values / previous - 1.0, np.nan)


def daily_risk_free(annual_rate: float) -> float:
    """The daily rate that compounds to ``annual_rate`` over a trading year."""
    return (1.0 + annual_rate) ** (1.0 / TRADING_DAYS_PER_YEAR) - 1.0


def total_return(returns: np.ndarray) -> float:
    """Compounded return of the whole series (0 for no returns)."""
    return float(np.prod(1.0 + np.asarray(returns, dtype=float)) - 1.0) if len(returns) else 0.0


def cagr(returns: np.ndarray) -> float | None:
    """Compound annual growth rate, years counted as ``len(returns) / 252``."""
    n = len(returns)
    if n == 0:
        return None
    growth = 1.0 + total_return(returns)
    if growth <= 0:
        return -1.0
    return growth ** (TRADING_DAYS_PER_YEAR / n) - 1.0


def annual_volatility(returns: np.ndarray) -> float | None:
    if len(returns) < 2:
        return None
    return float(np.std(returns, ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR)


def sharpe_ratio(returns: np.ndarray, risk_free: float = 0.0) -> float | None:
    """Annualised Sharpe ratio; ``risk_free`` is the annual rate."""
    if len(returns) < 2:
        return None
    excess = np.asarray(returns, dtype=float) - daily_risk_free(risk_free)
    std = float(np.std(excess, ddof=1))
    if not std > _MIN_STD:
        return None
    return float(np.mean(excess)) / std * math.sqrt(TRADING_DAYS_PER_YEAR)


def sortino_ratio(returns: np.ndarray, risk_free: float = 0.0) -> float | None:
    """Annualised Sortino ratio: mean excess return over the downside deviation."""
    if len(returns) < 2:
        return None
    excess = np.asarray(returns, dtype=float) - daily_risk_free(risk_free)
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if not downside > _MIN_STD:
        return None
    return (
        float(np.mean(excess))
        * TRADING_DAYS_PER_YEAR
        / (downside * math.sqrt(TRADING_DAYS_PER_YEAR))
    )


def max_drawdown_fraction(equity: np.ndarray, start: float) -> float:
    """Largest fall from the running peak as a fraction of that peak (>= 0); the peak
    starts at ``start`` (the capital)."""
    values = np.asarray(equity, dtype=float)
    if values.size == 0:
        return 0.0
    peak = np.maximum(np.maximum.accumulate(values), start)
    with np.errstate(divide="ignore", invalid="ignore"):
        fall = np.where(peak > 0, (peak - values) / peak, 0.0)
    return max(float(fall.max()), 0.0)


def calmar_ratio(cagr_value: float | None, max_drawdown: float) -> float | None:
    """CAGR over the max drawdown (a fraction); None without a drawdown or a CAGR."""
    if cagr_value is None or not max_drawdown > 0:
        return None
    return cagr_value / max_drawdown


def beta_and_correlation(
    returns: np.ndarray, benchmark: np.ndarray
) -> tuple[float | None, float | None]:
    """Beta and correlation of ``returns`` against ``benchmark`` (same days)."""
    r, b = np.asarray(returns, dtype=float), np.asarray(benchmark, dtype=float)
    if r.size < 2 or r.size != b.size:
        return None, None
    b_var = float(np.var(b, ddof=1))
    r_std = float(np.std(r, ddof=1))
    if not b_var > _MIN_STD**2:
        return None, None
    cov = float(np.cov(r, b, ddof=1)[0, 1])
    beta = cov / b_var
    correlation = cov / (r_std * math.sqrt(b_var)) if r_std > _MIN_STD else None
    return beta, correlation
