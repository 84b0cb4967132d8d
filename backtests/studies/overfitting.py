"""How likely a study's winner is to be a fluke: PSR, MinTRL, DSR and PBO (by CSCV).

Pure numpy and the standard library (``statistics.NormalDist`` gives Φ and Φ⁻¹): no Django, no
scipy. Written from the papers:

- [BLdP12] Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of
  Risk 15(2): the probabilistic Sharpe ratio (PSR) and the minimum track-record length (MinTRL).
- [BLdP14] Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection
  Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5).
- [BBLZ17] Bailey, Borwein, López de Prado & Zhu (2017), "The Probability of Backtest
  Overfitting", Journal of Computational Finance 20(4): PBO by combinatorially symmetric
  cross-validation (CSCV).

Conventions: Sharpe ratios are per observation (mean / sample standard deviation, ddof=1, no
annualisation, no risk-free rate) unless a name says annualised; to convert an annualised one
from daily returns divide by √(periods per year), and its variance by the periods per year.
Skewness and kurtosis are the sample's moment ratios m3/m2^1.5 and m4/m2² (non-excess: 3 for
a normal distribution). Undefined results are ``None``; bad input raises
``OverfittingInputError`` (a ``ValueError`` that the API answers with 400); no NaN or infinity
comes out of this module.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from ostsite.errors import InvalidInput

EULER_MASCHERONI = 0.5772156649015329
DEFAULT_SPLITS = 16
MIN_BLOCK_ROWS = 2  # a block needs two rows for a sample standard deviation of its own
MAX_COUNT = 10**15  # largest n_obs / n_trials: beyond it 1 - 1/N rounds to 1
MAX_ABS_RETURN = 1e50  # larger values are no returns, and their 4th powers would overflow
MAX_COMBINATIONS = 1_000_000  # C(22, 11) = 705,432 is allowed, C(24, 12) = 2,704,156 is not
DEFAULT_CONFIDENCE = 0.95

# Verdict thresholds (README "Overfitting statistics").
DSR_LIKELY_GENUINE = 0.95  # DSR >= this: likely genuine; below: not distinguishable from luck
PBO_LOW_RISK = 0.10  # PBO <= this: low risk of overfitting
PBO_OVERFIT = 0.50  # PBO > this: more likely overfit than not; in between: a real risk

# The CSCV loop takes the splits in chunks whose (splits x blocks) @ (blocks x trials) products
# stay at 2^18 multiply-adds: below OpenBLAS's threshold for starting threads (65536 x 4), whose
# waiting on busy cores made PBO 10x slower on a shared machine; arrays stay under 2^17 floats.
_CHUNK_PRODUCT_SIZE = 1 << 18
_NORMAL = NormalDist()

NOT_A_NUMBER = "{name} must be a finite number, got {value!r}"
N_OBS_INVALID = "n_obs must be an integer from 2 to 10^15 (observations), got {value!r}"
N_TRIALS_INVALID = "n_trials must be an integer from 1 to 10^15, got {value!r}"
N_TRIALS_BELOW_COLUMNS = (
    "n_trials ({n_trials}) cannot be fewer than the trials in the returns matrix ({columns})"
)
SHARPE_VARIANCE_NEGATIVE = "sharpe_variance must be at least 0, got {value!r}"
CONFIDENCE_INVALID = "confidence must be strictly between 0 and 1, got {value!r}"
MOMENTS_IMPOSSIBLE = (
    "skewness {skewness:g} and kurtosis {kurtosis:g} give the Sharpe ratio {sharpe:g} a "
    "variance term 1 - skewness*SR + (kurtosis - 1)/4*SR^2 of {term:.3g} <= 0; no distribution "
    "has such moments (kurtosis is at least 1 + skewness^2, non-excess)"
)
RETURNS_NOT_NUMBERS = "{what} must hold numbers only: {detail}"
RETURNS_TOO_LARGE = (
    "{what} holds {count} value(s) of magnitude above 1e50, the first at {where}: these are not "
    "returns"
)
SHARPE_TOO_LARGE = "the Sharpe ratio {sharpe:g} is too large for its standard error to be computed"
RETURNS_NOT_1D = "returns must be one-dimensional (one value per observation), got shape {shape}"
MATRIX_NOT_2D = (
    "the returns matrix must be two-dimensional (rows = observations, columns = trials), "
    "got shape {shape}"
)
RETURNS_NOT_FINITE = (
    "{what} holds {count} NaN or infinite value(s), the first at {where}; "
    "fill or drop them before computing statistics"
)
TOO_FEW_TRIALS = "the returns matrix needs at least 2 trials (columns) to compare, got {count}"
NO_TRIALS = "the returns matrix has no trials (columns)"
BEST_INVALID = (
    "best must be the index of a column of the returns matrix (0 to {last}), got {value!r}"
)
NO_DEFINED_SHARPE = (
    "no trial has a defined Sharpe ratio: every trial's returns are constant or it has fewer "
    "than 2 observations"
)
BEST_SHARPE_UNDEFINED = (
    "trial {best} has no defined Sharpe ratio (its returns are constant or too few)"
)
SHARPE_VARIANCE_UNDEFINED = (
    "the variance of the trials' Sharpe ratios needs at least 2 trials with a defined Sharpe "
    "ratio (returns that are not all equal); {defined} of the {columns} in the returns matrix "
    "have one"
)
SPLITS_NOT_INTEGER = "n_splits must be an integer, got {value!r}"
SPLITS_TOO_FEW = "n_splits must be at least 2, got {value}"
SPLITS_ODD = "n_splits must be even (half of the blocks in-sample, half out-of-sample), got {value}"
SPLITS_TOO_MANY_COMBINATIONS = (
    "n_splits={value} makes {count:,} in-sample/out-of-sample splits, more than the "
    "{limit:,} allowed; use n_splits <= {largest}"
)
SPLITS_MORE_THAN_ROWS = (
    "n_splits={value} needs at least {value} rows (one block each), the returns matrix has {rows}"
)
BLOCKS_TOO_SHORT = (
    "with {rows} rows and n_splits={value}, each block would get {block} row(s); a block needs "
    "at least {minimum} rows to compute a Sharpe ratio, so n_splits={value} needs at least "
    "{needed} rows{advice}"
)
VERDICT_NOTHING = "overfitting_verdict needs a DSR result, a PBO result or both"


class OverfittingInputError(InvalidInput, ValueError):
    """Input the overfitting statistics cannot be computed from; the message says why."""


@dataclass(frozen=True)
class ReturnMoments:
    """What the PSR and DSR need to know about one return series."""

    n_obs: int
    sharpe: float
    skewness: float
    kurtosis: float


@dataclass(frozen=True)
class DSRResult:
    """The deflated Sharpe ratio of a study's best trial, with its inputs.

    ``expected_max_sharpe`` is SR0, the Sharpe ratio the best of ``n_trials`` skill-less trials
    would show; ``dsr`` is PSR(SR0); ``min_track_record_length`` the observations needed for
    PSR(SR0) >= 0.95 (``None`` when ``sharpe <= SR0``: no length is enough).
    """

    sharpe: float
    n_obs: int
    skewness: float
    kurtosis: float
    n_trials: int
    sharpe_variance: float
    expected_max_sharpe: float
    dsr: float
    min_track_record_length: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe fields (no NaN or infinity)."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class PBOResult:
    """The probability of backtest overfitting of a study, by CSCV [BBLZ17].

    ``logits`` holds λ = ln(ω / (1 - ω)) per split, in the order of
    ``itertools.combinations(range(n_splits), n_splits // 2)`` (the in-sample blocks), where ω
    is the out-of-sample rank of the in-sample best trial divided by ``n_trials + 1``. ``pbo``
    is the share of λ <= 0; ``probability_of_loss`` the share of splits where the in-sample best
    trial's out-of-sample Sharpe ratio is negative. The first ``rows_dropped`` rows (the oldest)
    are left out so that the blocks hold ``block_rows`` rows each.
    """

    pbo: float
    logits: np.ndarray
    median_logit: float
    probability_of_loss: float
    n_splits: int
    n_combinations: int
    n_trials: int
    block_rows: int
    rows_dropped: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe fields, the logits as a list of floats."""
        data = asdict(self)
        data["logits"] = [float(value) for value in self.logits]
        return data


# --- Sharpe ratio and moments ---------------------------------------------------------------


def sharpe_ratio(returns: Sequence[float] | np.ndarray) -> float | None:
    """Per-observation Sharpe ratio: mean / sample standard deviation (ddof=1).

    ``None`` when undefined: fewer than 2 observations, or all of them equal (zero deviation).
    """
    sharpe = _column_sharpes(_returns_vector(returns)[:, None])[0]
    return None if math.isnan(sharpe) else float(sharpe)


def return_moments(returns: Sequence[float] | np.ndarray) -> ReturnMoments | None:
    """Observations, Sharpe ratio, skewness m3/m2^1.5 and kurtosis m4/m2² (non-excess) of
    ``returns``; ``None`` when the Sharpe ratio is undefined (see ``sharpe_ratio``).

    mk = mean((r - mean(r))^k), the sample's own moments, as in [BLdP12].
    """
    values = _returns_vector(returns)
    sharpe = sharpe_ratio(values)
    if sharpe is None:
        return None
    deviations = values - values.mean()
    deviations /= np.abs(deviations).max()  # the ratios do not change; m2 >= 1/n, no underflow
    m2 = float(np.mean(deviations**2))
    return ReturnMoments(
        n_obs=int(values.size),
        sharpe=sharpe,
        skewness=float(np.mean(deviations**3)) / m2**1.5,
        kurtosis=float(np.mean(deviations**4)) / m2**2,
    )


def _column_sharpes(matrix: np.ndarray) -> np.ndarray:
    """Each column's Sharpe ratio (rows = observations), NaN where ``sharpe_ratio`` says None.

    The deviations are scaled by their largest before squaring, so tiny ones do not underflow.
    """
    rows, columns = matrix.shape
    if rows < 2:
        return np.full(columns, np.nan)
    varies = matrix.min(axis=0) < matrix.max(axis=0)
    mean = matrix.mean(axis=0)
    deviations = matrix - mean
    scale = np.where(varies, np.abs(deviations).max(axis=0), 1.0)
    std = scale * np.sqrt(((deviations / scale) ** 2).sum(axis=0) / (rows - 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sharpes = mean / std
    return np.where(varies & np.isfinite(sharpes), sharpes, np.nan)


# --- PSR, MinTRL, DSR -----------------------------------------------------------------------


def probabilistic_sharpe_ratio(
    *, sharpe: float, benchmark: float, n_obs: int, skewness: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark`` [BLdP12]:

        PSR(SR*) = Φ( (SR - SR*) · √(n - 1) / √(1 - γ3·SR + (γ4 - 1)/4 · SR²) )

    SR the observed per-observation Sharpe ratio over ``n_obs`` observations, γ3 the skewness
    and γ4 the (non-excess) kurtosis of the returns.
    """
    _finite(sharpe=sharpe, benchmark=benchmark, skewness=skewness, kurtosis=kurtosis)
    n_obs = _integer_between(n_obs, 2, N_OBS_INVALID)
    term = _sharpe_variance_term(sharpe=sharpe, skewness=skewness, kurtosis=kurtosis)
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(term))


def minimum_track_record_length(
    *,
    sharpe: float,
    benchmark: float,
    skewness: float,
    kurtosis: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> float | None:
    """Observations needed before PSR(``benchmark``) reaches ``confidence`` [BLdP12]:

        MinTRL = 1 + (1 - γ3·SR + (γ4 - 1)/4 · SR²) · (Φ⁻¹(confidence) / (SR - SR*))²

    A real number (round it up for a count). ``None`` when ``sharpe <= benchmark``: no track
    record, however long, makes such a Sharpe ratio significantly better than the benchmark
    (also when the length is beyond floating point, a Sharpe ratio a hair above it).
    """
    _finite(sharpe=sharpe, benchmark=benchmark, skewness=skewness, kurtosis=kurtosis)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float | np.number)
        or not 0 < confidence < 1
    ):
        raise OverfittingInputError(CONFIDENCE_INVALID.format(value=confidence))
    term = _sharpe_variance_term(sharpe=sharpe, skewness=skewness, kurtosis=kurtosis)
    if sharpe <= benchmark:
        return None
    try:
        length = 1 + term * (_NORMAL.inv_cdf(confidence) / (sharpe - benchmark)) ** 2
    except OverflowError:
        return None
    return length if math.isfinite(length) else None


def expected_maximum_sharpe(*, n_trials: int, sharpe_variance: float) -> float:
    """SR0: the expected largest Sharpe ratio of ``n_trials`` trials without skill [BLdP14]:

        SR0 = √V · ((1 - γ) · Φ⁻¹(1 - 1/N) + γ · Φ⁻¹(1 - 1/(N·e)))

    V the variance of the trials' per-observation Sharpe ratios, γ ≈ 0.5772 the
    Euler-Mascheroni constant. One trial (no selection) or V = 0 gives 0.
    """
    n_trials = _integer_between(n_trials, 1, N_TRIALS_INVALID)
    _finite(sharpe_variance=sharpe_variance)
    if sharpe_variance < 0:
        raise OverfittingInputError(SHARPE_VARIANCE_NEGATIVE.format(value=sharpe_variance))
    if n_trials == 1 or sharpe_variance == 0:
        return 0.0
    # Φ⁻¹(1 - p) = -Φ⁻¹(p): exact for large N, where 1 - 1/N loses digits.
    quantiles = -(1 - EULER_MASCHERONI) * _NORMAL.inv_cdf(
        1 / n_trials
    ) - EULER_MASCHERONI * _NORMAL.inv_cdf(1 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * quantiles


def deflated_sharpe_ratio(
    *,
    sharpe: float,
    n_obs: int,
    skewness: float,
    kurtosis: float,
    n_trials: int,
    sharpe_variance: float,
) -> DSRResult:
    """The deflated Sharpe ratio of the best of ``n_trials`` trials [BLdP14]: its PSR against
    SR0 = ``expected_maximum_sharpe(n_trials, sharpe_variance)``,

        DSR = Φ( (SR - SR0) · √(T - 1) / √(1 - γ3·SR + (γ4 - 1)/4 · SR²) )

    the probability that its true Sharpe ratio beats what luck alone gives the best of that many
    trials. With one trial SR0 = 0 and the DSR is the PSR against 0.
    """
    sr0 = expected_maximum_sharpe(n_trials=n_trials, sharpe_variance=sharpe_variance)
    dsr = probabilistic_sharpe_ratio(
        sharpe=sharpe, benchmark=sr0, n_obs=n_obs, skewness=skewness, kurtosis=kurtosis
    )
    return DSRResult(
        sharpe=float(sharpe),
        n_obs=int(n_obs),
        skewness=float(skewness),
        kurtosis=float(kurtosis),
        n_trials=int(n_trials),
        sharpe_variance=float(sharpe_variance),
        expected_max_sharpe=sr0,
        dsr=dsr,
        min_track_record_length=minimum_track_record_length(
            sharpe=sharpe, benchmark=sr0, skewness=skewness, kurtosis=kurtosis
        ),
    )


def deflated_sharpe_for_trials(
    returns_matrix: Sequence[Sequence[float]] | np.ndarray,
    *,
    n_trials: int | None = None,
    best: int | None = None,
) -> DSRResult:
    """The DSR of a study from its trials' returns (rows = observations, columns = trials).

    ``best`` is the chosen trial's column (default: the highest Sharpe ratio, the first on a
    tie); its moments feed the PSR. V is the sample variance (ddof=1) of the Sharpe ratios of
    the trials that have one (constant returns have none). ``n_trials`` is the number of trials
    the study really tried (default: the columns), counting any that left no returns.
    """
    matrix = _returns_matrix(returns_matrix)
    columns = matrix.shape[1]
    if columns == 0:
        raise OverfittingInputError(NO_TRIALS)
    if n_trials is None:
        n_trials = columns
    n_trials = _integer_between(n_trials, 1, N_TRIALS_INVALID)
    if n_trials < columns:
        raise OverfittingInputError(
            N_TRIALS_BELOW_COLUMNS.format(n_trials=n_trials, columns=columns)
        )
    all_sharpes = _column_sharpes(matrix)
    defined_columns = np.flatnonzero(~np.isnan(all_sharpes))
    if not defined_columns.size:
        raise OverfittingInputError(NO_DEFINED_SHARPE)
    sharpes = all_sharpes[defined_columns]
    if best is None:
        best = int(defined_columns[np.argmax(sharpes)])
    elif (
        isinstance(best, bool)
        or not isinstance(best, int | np.integer)
        or not (0 <= best < columns)
    ):
        raise OverfittingInputError(BEST_INVALID.format(last=columns - 1, value=best))
    moments = return_moments(matrix[:, best])
    if moments is None:
        raise OverfittingInputError(BEST_SHARPE_UNDEFINED.format(best=best))
    if n_trials == 1:
        variance = 0.0
    elif sharpes.size < 2:
        raise OverfittingInputError(
            SHARPE_VARIANCE_UNDEFINED.format(defined=sharpes.size, columns=columns)
        )
    else:
        variance = float(np.var(sharpes, ddof=1))
    return deflated_sharpe_ratio(
        sharpe=moments.sharpe,
        n_obs=moments.n_obs,
        skewness=moments.skewness,
        kurtosis=moments.kurtosis,
        n_trials=n_trials,
        sharpe_variance=variance,
    )


# --- PBO by CSCV ----------------------------------------------------------------------------


def probability_of_backtest_overfitting(
    returns_matrix: Sequence[Sequence[float]] | np.ndarray, *, n_splits: int = DEFAULT_SPLITS
) -> PBOResult:
    """PBO of choosing the best of the trials in-sample, by CSCV [BBLZ17].

    ``returns_matrix`` is T×N: rows = observations (days) in time order, columns = trials. The
    rows are cut into S = ``n_splits`` consecutive blocks of equal size (the oldest T mod S rows
    are left out). For each of the C(S, S/2) ways to pick S/2 blocks as the in-sample set J (the
    rest, J̄, out-of-sample): n* = the trial with the highest Sharpe ratio over J, r = its rank
    among the N trials' Sharpe ratios over J̄ (1 = worst, N = best, ties share the mean rank),
    ω = r / (N + 1) and λ = ln(ω / (1 - ω)). PBO = share of splits with λ <= 0, i.e. where the
    in-sample winner is at or below the out-of-sample median.

    Sharpe ratios here: mean / sample std of the rows of the set; rows all equal have no
    deviation and rank by their sign (+inf above, -inf below, 0 for zeros, so a trial that never
    trades sits between winners and losers); the in-sample best on a tie is the first column.
    Refused (``OverfittingInputError``): fewer than 2 trials, NaN or infinity, S not an even
    integer >= 2, more than 1,000,000 splits, S > T, blocks under 2 rows.
    """
    matrix = _returns_matrix(returns_matrix)
    rows, n_trials = matrix.shape
    if n_trials < 2:
        raise OverfittingInputError(TOO_FEW_TRIALS.format(count=n_trials))
    n_splits = _checked_splits(n_splits, rows)
    block_rows, dropped, half = rows // n_splits, rows % n_splits, n_splits // 2
    blocks = matrix[dropped:].reshape(n_splits, block_rows, n_trials)

    # Per-block sums around each trial's overall mean (sums of squares stay exact-ish: no
    # cancellation from a large mean), block extremes to recognise sets of equal rows exactly.
    centre = matrix[dropped:].mean(axis=0)
    centred = blocks - centre
    block_sums, block_squares = centred.sum(axis=1), (centred**2).sum(axis=1)
    total_sums, total_squares = block_sums.sum(axis=0), block_squares.sum(axis=0)
    block_min, block_max = blocks.min(axis=1), blocks.max(axis=1)
    flat = np.flatnonzero((block_min == block_max).any(axis=0))  # trials with an equal-row block
    set_rows = half * block_rows

    combinations = itertools.combinations(range(n_splits), half)
    n_combinations = math.comb(n_splits, half)
    chunk = max(1, _CHUNK_PRODUCT_SIZE // (n_splits * n_trials))
    logits = np.empty(n_combinations)
    losses = 0
    done = 0
    while done < n_combinations:
        in_blocks = np.array(list(itertools.islice(combinations, chunk)), dtype=np.intp)
        count = len(in_blocks)
        in_mask = np.zeros((count, n_splits), dtype=bool)
        in_mask[np.arange(count)[:, None], in_blocks] = True
        out_blocks = np.nonzero(~in_mask)[1].reshape(count, half)
        indicator = in_mask.astype(float)
        in_sums, in_squares = indicator @ block_sums, indicator @ block_squares
        in_sharpe = _set_sharpe(
            in_sums, in_squares, set_rows, centre, flat, block_min, block_max, in_blocks
        )
        out_sharpe = _set_sharpe(
            total_sums - in_sums,
            total_squares - in_squares,
            set_rows,
            centre,
            flat,
            block_min,
            block_max,
            out_blocks,
        )
        chosen = in_sharpe.argmax(axis=1)
        chosen_out = out_sharpe[np.arange(count), chosen][:, None]
        below = (out_sharpe < chosen_out).sum(axis=1)
        tied = (out_sharpe == chosen_out).sum(axis=1) - 1
        omega = (1 + below + tied / 2) / (n_trials + 1)
        logits[done : done + count] = np.log(omega / (1 - omega))
        losses += int((chosen_out < 0).sum())
        done += count
    logits.setflags(write=False)
    return PBOResult(
        pbo=float((logits <= 0).mean()),
        logits=logits,
        median_logit=float(np.median(logits)),
        probability_of_loss=losses / n_combinations,
        n_splits=n_splits,
        n_combinations=n_combinations,
        n_trials=n_trials,
        block_rows=block_rows,
        rows_dropped=dropped,
    )


def _set_sharpe(
    sums: np.ndarray,
    squares: np.ndarray,
    n: int,
    centre: np.ndarray,
    flat: np.ndarray,
    block_min: np.ndarray,
    block_max: np.ndarray,
    set_blocks: np.ndarray,
) -> np.ndarray:
    """Sharpe ratios (combinations × trials) of the sets of blocks, from their centred sums;
    sets of equal rows (and numerically zero deviations) get ±inf or 0 by their sign."""
    mean = sums * (1 / n)
    variance = sums * mean
    np.subtract(squares, variance, out=variance)
    variance *= 1 / (n - 1)
    degenerate = variance <= 0
    mean += centre
    if flat.size:
        set_min = block_min[:, flat][set_blocks].min(axis=1)
        set_max = block_max[:, flat][set_blocks].max(axis=1)
        equal = set_min == set_max
        degenerate[:, flat] |= equal
        mean[:, flat] = np.where(equal, set_max, mean[:, flat])
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.sqrt(variance, out=variance)
        np.divide(mean, sharpe, out=sharpe)
    if degenerate.any():
        by_sign = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
        sharpe[degenerate] = by_sign[degenerate]
    return sharpe


def _checked_splits(n_splits: object, rows: int) -> int:
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer):
        raise OverfittingInputError(SPLITS_NOT_INTEGER.format(value=n_splits))
    value = int(n_splits)
    if value < 2:
        raise OverfittingInputError(SPLITS_TOO_FEW.format(value=value))
    if value % 2:
        raise OverfittingInputError(SPLITS_ODD.format(value=value))
    count = math.comb(value, value // 2)
    if count > MAX_COMBINATIONS:
        largest = max(s for s in range(2, value, 2) if math.comb(s, s // 2) <= MAX_COMBINATIONS)
        raise OverfittingInputError(
            SPLITS_TOO_MANY_COMBINATIONS.format(
                value=value, count=count, limit=MAX_COMBINATIONS, largest=largest
            )
        )
    if value > rows:
        raise OverfittingInputError(SPLITS_MORE_THAN_ROWS.format(value=value, rows=rows))
    if rows // value < MIN_BLOCK_ROWS:
        largest = (rows // MIN_BLOCK_ROWS) // 2 * 2
        advice = f"; with {rows} rows use n_splits <= {largest}" if largest >= 2 else ""
        raise OverfittingInputError(
            BLOCKS_TOO_SHORT.format(
                rows=rows,
                value=value,
                block=rows // value,
                minimum=MIN_BLOCK_ROWS,
                needed=value * MIN_BLOCK_ROWS,
                advice=advice,
            )
        )
    return value


# --- Verdict --------------------------------------------------------------------------------


def overfitting_verdict(*, dsr: DSRResult | None = None, pbo: PBOResult | None = None) -> str:
    """The verdict in plain words with the numbers, one sentence per statistic given.

    DSR >= 0.95: "likely genuine"; below: "not distinguishable from luck" (with the track
    record it would need). PBO <= 0.10: "low risk of overfitting"; up to 0.50: "a real risk
    of overfitting"; above 0.50: "more likely overfit than not". Numbers are shown to 2
    decimals, or more where 2 would round across a threshold (0.9496 is not shown as 0.95).
    """
    if dsr is None and pbo is None:
        raise OverfittingInputError(VERDICT_NOTHING)
    sentences = []
    if dsr is not None:
        sentences.append(_dsr_sentence(dsr))
    if pbo is not None:
        sentences.append(_pbo_sentence(pbo))
    return " ".join(sentences)


def _dsr_sentence(result: DSRResult) -> str:
    shown = _shown(result.dsr, (DSR_LIKELY_GENUINE,))
    if result.n_trials == 1:
        subject = f"The single trial has a probabilistic Sharpe of {shown} against 0"
    else:
        subject = f"The best of {result.n_trials:,} trials has a deflated Sharpe of {shown}"
    if result.dsr >= DSR_LIKELY_GENUINE:
        return f"{subject}: likely genuine ({DSR_LIKELY_GENUINE} or more)."
    if result.min_track_record_length is None:
        luck = "0" if result.n_trials == 1 else f"{result.expected_max_sharpe:.4f}"
        reason = (
            f"its Sharpe ratio of {result.sharpe:.4f} per observation is not above the "
            f"{luck} that luck alone gives"
        )
    else:
        reason = (
            f"it would need about {math.ceil(result.min_track_record_length):,} observations "
            f"to reach {DSR_LIKELY_GENUINE}, it has {result.n_obs:,}"
        )
    return f"{subject}: not distinguishable from luck ({reason})."


def _pbo_sentence(result: PBOResult) -> str:
    shown = _shown(result.pbo, (PBO_LOW_RISK, PBO_OVERFIT))
    if result.pbo > PBO_OVERFIT:
        words = "more likely overfit than not"
    elif result.pbo > PBO_LOW_RISK:
        words = "a real risk of overfitting"
    else:
        words = "low risk of overfitting"
    below = round(result.pbo * result.n_combinations)
    return (
        f"Probability of backtest overfitting {shown}: {words} (the in-sample best of "
        f"{result.n_trials:,} trials was at or below the out-of-sample median in {below:,} of "
        f"{result.n_combinations:,} splits, and lost money out of sample in "
        f"{result.probability_of_loss:.0%} of them)."
    )


def _shown(value: float, thresholds: tuple[float, ...]) -> str:
    """``value`` to 2 decimals, or as many more as keep it on its side of every threshold."""
    for digits in range(2, 8):
        rounded = round(value, digits)
        if all((rounded >= t) == (value >= t) and (rounded > t) == (value > t) for t in thresholds):
            return f"{value:.{digits}f}"
    return repr(value)


# --- Input checks ---------------------------------------------------------------------------


def _returns_vector(returns: Sequence[float] | np.ndarray) -> np.ndarray:
    values = _as_floats(returns, "returns")
    if values.ndim != 1:
        raise OverfittingInputError(RETURNS_NOT_1D.format(shape=values.shape))
    problem = _unusable_values(values)
    if problem is not None:
        message, bad = problem
        raise OverfittingInputError(
            message.format(what="returns", count=bad.size, where=f"index {bad[0]}")
        )
    return values


def _returns_matrix(returns_matrix: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    matrix = _as_floats(returns_matrix, "the returns matrix")
    if matrix.ndim != 2:
        raise OverfittingInputError(MATRIX_NOT_2D.format(shape=matrix.shape))
    problem = _unusable_values(matrix.ravel())
    if problem is not None:
        message, bad = problem
        row, column = divmod(int(bad[0]), matrix.shape[1])
        raise OverfittingInputError(
            message.format(
                what="the returns matrix",
                count=bad.size,
                where=f"row {row}, trial (column) {column}",
            )
        )
    return matrix


def _unusable_values(values: np.ndarray) -> tuple[str, np.ndarray] | None:
    """The message for the first kind of unusable value found and their flat indexes."""
    finite = np.isfinite(values)
    if not finite.all():
        return RETURNS_NOT_FINITE, np.flatnonzero(~finite)
    huge = np.abs(values) > MAX_ABS_RETURN
    if huge.any():
        return RETURNS_TOO_LARGE, np.flatnonzero(huge)
    return None


def _as_floats(data: object, what: str) -> np.ndarray:
    try:
        values = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as error:
        raise OverfittingInputError(RETURNS_NOT_NUMBERS.format(what=what, detail=error)) from None
    return values


def _finite(**values: float) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise OverfittingInputError(NOT_A_NUMBER.format(name=name, value=value))
        if not math.isfinite(value):
            raise OverfittingInputError(NOT_A_NUMBER.format(name=name, value=value))


def _integer_between(value: object, minimum: int, message: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not minimum <= value <= MAX_COUNT
    ):
        raise OverfittingInputError(message.format(value=value))
    return int(value)


def _sharpe_variance_term(*, sharpe: float, skewness: float, kurtosis: float) -> float:
    """1 - γ3·SR + (γ4 - 1)/4 · SR²: (T - 1) times the variance of the Sharpe estimate."""
    term = 1 - skewness * sharpe + (kurtosis - 1) / 4 * (sharpe * sharpe)  # inf, not an error
    if not math.isfinite(term):
        raise OverfittingInputError(SHARPE_TOO_LARGE.format(sharpe=sharpe))
    if term <= 0:
        raise OverfittingInputError(
            MOMENTS_IMPOSSIBLE.format(
                skewness=skewness, kurtosis=kurtosis, sharpe=sharpe, term=term
            )
        )
    return term
