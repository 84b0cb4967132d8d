"""Overfitting statistics (backtests/studies/overfitting.py): no database, no Django.

Expected values are computed here by hand from the papers' formulas with plain floats (Φ from
``math.erf``, moments with loops, Sharpe ratios with the ``statistics`` module) or taken from
the papers' worked examples; PBO is checked against a brute-force CSCV written with loops.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backtests.studies import overfitting
from backtests.studies.overfitting import (
    BEST_INVALID,
    BEST_SHARPE_UNDEFINED,
    BLOCKS_TOO_SHORT,
    CONFIDENCE_INVALID,
    MATRIX_NOT_2D,
    MOMENTS_IMPOSSIBLE,
    N_OBS_INVALID,
    N_TRIALS_BELOW_COLUMNS,
    N_TRIALS_INVALID,
    NO_DEFINED_SHARPE,
    NO_TRIALS,
    NOT_A_NUMBER,
    RETURNS_NOT_FINITE,
    RETURNS_TOO_LARGE,
    SHARPE_TOO_LARGE,
    SHARPE_VARIANCE_NEGATIVE,
    SHARPE_VARIANCE_UNDEFINED,
    SPLITS_MORE_THAN_ROWS,
    SPLITS_NOT_INTEGER,
    SPLITS_ODD,
    SPLITS_TOO_FEW,
    SPLITS_TOO_MANY_COMBINATIONS,
    TOO_FEW_TRIALS,
    VERDICT_NOTHING,
    DSRResult,
    OverfittingInputError,
    PBOResult,
    deflated_sharpe_for_trials,
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    minimum_track_record_length,
    overfitting_verdict,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    return_moments,
    sharpe_ratio,
)
from ostsite.errors import InvalidInput

pytestmark = pytest.mark.pure  # no database: runs once, in the SQLite suite

ROOT = Path(__file__).resolve().parents[3]
GAMMA = 0.5772156649015329  # Euler-Mascheroni
Z_95 = 1.6448536269514722  # Φ⁻¹(0.95), from tables
Z_975 = 1.959963984540054  # Φ⁻¹(0.975)


def phi(z: float) -> float:
    """Standard normal CDF, independently of statistics.NormalDist."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def refused(message: str):
    """Expect an OverfittingInputError carrying exactly ``message``."""
    return pytest.raises(OverfittingInputError, match=f"^{re.escape(message)}$")


# --- Sharpe ratio and moments ---------------------------------------------------------------


def test_sharpe_ratio_of_four_returns_matches_hand_computation():
    # mean 0.025, sample variance (2 * 0.015² + 2 * 0.005²) / 3 = 0.0005 / 3
    assert sharpe_ratio([0.01, 0.02, 0.03, 0.04]) == pytest.approx(0.025 * math.sqrt(6000))


@pytest.mark.parametrize("returns", [[], [0.01], [0.02] * 5, np.zeros(30)])
def test_sharpe_ratio_undefined_returns_none(returns):
    assert sharpe_ratio(returns) is None


@pytest.mark.parametrize(
    ("returns", "where"),
    [([0.01, float("nan"), 0.02], "index 1"), ([0.01, 0.0, float("inf")], "index 2")],
)
def test_sharpe_ratio_non_finite_returns_refused(returns, where):
    with refused(RETURNS_NOT_FINITE.format(what="returns", count=1, where=where)):
        sharpe_ratio(returns)


def test_sharpe_ratio_absurdly_large_returns_refused():
    with refused(RETURNS_TOO_LARGE.format(what="returns", count=2, where="index 1")):
        sharpe_ratio([0.01, 1e60, 0.02, -1e300])


def test_return_moments_of_a_small_sample_match_hand_computation():
    # [0, 0, 0, 1]: mean 1/4, m2 = 3/16, m3 = 3/32, m4 = 21/256 -> skew 2/√3, kurtosis 7/3;
    # sample std √(0.75 / 3) = 0.5 -> Sharpe 0.5.
    moments = return_moments([0.0, 0.0, 0.0, 1.0])
    assert moments.n_obs == 4
    assert moments.sharpe == pytest.approx(0.5)
    assert moments.skewness == pytest.approx(2 / math.sqrt(3))
    assert moments.kurtosis == pytest.approx(7 / 3)


def test_sharpe_ratio_and_moments_of_tiny_deviations_do_not_underflow():
    # deviations ±1e-170 around 0: squares underflow to 0 without scaling. Sample std of
    # [-a, a, -a, a] = a·√(4/3); moments of a symmetric two-point sample: skew 0, kurtosis 1.
    a = 1e-170
    moments = return_moments([-a, a, -a, a + a])
    assert moments.sharpe == pytest.approx((a / 4) / statistics.stdev([-1, 1, -1, 2]) / a)
    assert return_moments([-a, a, -a, a]).kurtosis == pytest.approx(1.0)
    assert return_moments([-a, a, -a, a]).skewness == pytest.approx(0.0)


def test_sharpe_ratio_of_nearly_equal_returns_is_exact():
    # [1, 1 + 2^-40, 1 + 2^-39]: mean 1 + 2^-40, sample std 2^-40 -> Sharpe 2^40 + 1
    assert sharpe_ratio([1.0, 1.0 + 2**-40, 1.0 + 2**-39]) == pytest.approx(2**40 + 1, rel=1e-12)


def test_return_moments_of_constant_returns_are_none():
    assert return_moments([0.003] * 10) is None


# --- PSR ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sharpe", "benchmark", "n_obs", "skewness", "kurtosis", "expected"),
    [
        # term = 1 + 0 + 0 = 1, z = 0.1 · √400 = 2 -> Φ(2) = 0.97725 (normal tables)
        (0.2, 0.1, 401, 0.0, 1.0, 0.9772498680518208),
        # normal returns: term = 1 + 2/4 · 0.01 = 1.005, z = 0.1 · 10 / √1.005
        (0.1, 0.0, 101, 0.0, 3.0, phi(1.0 / math.sqrt(1.005))),
        # skewed, fat-tailed: term = 1 + 0.1 + 4/4 · 0.01 = 1.11, z = 0.1 · √1000 / √1.11
        (0.1, 0.0, 1001, -1.0, 5.0, phi(0.1 * math.sqrt(1000) / math.sqrt(1.11))),
        # below the benchmark: z = -0.05 · √250 / √(1 - 0.5 · 0.05 + 5/4 · 0.0025)
        (0.05, 0.1, 251, 0.5, 6.0, phi(-0.05 * math.sqrt(250) / math.sqrt(0.978125))),
    ],
)
def test_probabilistic_sharpe_ratio_matches_hand_computation(
    sharpe, benchmark, n_obs, skewness, kurtosis, expected
):
    psr = probabilistic_sharpe_ratio(
        sharpe=sharpe, benchmark=benchmark, n_obs=n_obs, skewness=skewness, kurtosis=kurtosis
    )
    assert psr == pytest.approx(expected, rel=1e-12)


def test_probabilistic_sharpe_ratio_at_the_benchmark_is_one_half():
    assert probabilistic_sharpe_ratio(
        sharpe=0.1, benchmark=0.1, n_obs=500, skewness=-2.0, kurtosis=9.0
    ) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_obs": 1}, N_OBS_INVALID.format(value=1)),
        ({"n_obs": 250.0}, N_OBS_INVALID.format(value=250.0)),
        ({"n_obs": True}, N_OBS_INVALID.format(value=True)),
        ({"n_obs": 10**16}, N_OBS_INVALID.format(value=10**16)),
        ({"sharpe": 1e200}, SHARPE_TOO_LARGE.format(sharpe=1e200)),
        ({"sharpe": float("nan")}, NOT_A_NUMBER.format(name="sharpe", value=float("nan"))),
        ({"kurtosis": float("inf")}, NOT_A_NUMBER.format(name="kurtosis", value=float("inf"))),
        ({"skewness": None}, NOT_A_NUMBER.format(name="skewness", value=None)),
        (
            {"sharpe": 3.0, "skewness": 0.0, "kurtosis": 0.5},
            MOMENTS_IMPOSSIBLE.format(skewness=0.0, kurtosis=0.5, sharpe=3.0, term=-0.125),
        ),
    ],
)
def test_probabilistic_sharpe_ratio_bad_input_refused(changes, message):
    arguments = {"sharpe": 0.1, "benchmark": 0.0, "n_obs": 250, "skewness": 0.0, "kurtosis": 3.0}
    with refused(message):
        probabilistic_sharpe_ratio(**{**arguments, **changes})


# --- MinTRL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sharpe", "benchmark", "skewness", "kurtosis", "confidence", "expected"),
    [
        # term 1: 1 + (1.96 / 0.1)²
        (0.2, 0.1, 0.0, 1.0, 0.975, 1 + (Z_975 / 0.1) ** 2),
        # term 1.11: 1 + 1.11 · (1.6449 / 0.1)²
        (0.1, 0.0, -1.0, 5.0, 0.95, 1 + 1.11 * (Z_95 / 0.1) ** 2),
    ],
)
def test_minimum_track_record_length_matches_hand_computation(
    sharpe, benchmark, skewness, kurtosis, confidence, expected
):
    length = minimum_track_record_length(
        sharpe=sharpe,
        benchmark=benchmark,
        skewness=skewness,
        kurtosis=kurtosis,
        confidence=confidence,
    )
    assert length == pytest.approx(expected, rel=1e-9)


def test_minimum_track_record_length_is_where_psr_crosses_the_confidence():
    inputs = {"sharpe": 0.08, "benchmark": 0.02, "skewness": -0.7, "kurtosis": 6.5}
    length = minimum_track_record_length(**inputs, confidence=0.95)
    enough = probabilistic_sharpe_ratio(**inputs, n_obs=math.ceil(length))
    short = probabilistic_sharpe_ratio(**inputs, n_obs=math.ceil(length) - 1)
    assert short < 0.95 <= enough


@pytest.mark.parametrize("sharpe", [0.1, 0.05, -0.2])
def test_minimum_track_record_length_not_above_benchmark_is_none(sharpe):
    assert (
        minimum_track_record_length(sharpe=sharpe, benchmark=0.1, skewness=0.0, kurtosis=3.0)
        is None
    )


def test_minimum_track_record_length_beyond_floating_point_is_none():
    assert (
        minimum_track_record_length(
            sharpe=0.1 + 1e-17 * 0.1, benchmark=0.1, skewness=0.0, kurtosis=3.0
        )
        is None
    )


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, float("nan"), "0.95", True])
def test_minimum_track_record_length_bad_confidence_refused(confidence):
    with refused(CONFIDENCE_INVALID.format(value=confidence)):
        minimum_track_record_length(
            sharpe=0.2, benchmark=0.0, skewness=0.0, kurtosis=3.0, confidence=confidence
        )


# --- DSR ------------------------------------------------------------------------------------


def test_deflated_sharpe_ratio_reproduces_the_papers_worked_example():
    # [BLdP14]: annualised Sharpe 2.5 over T = 1,250 daily returns, N = 100 trials whose
    # annualised Sharpe ratios have variance 0.5, skewness -3, kurtosis 10. The paper
    # annualises daily figures with 250 days: per observation SR = 2.5/√250, V = 0.5/250.
    result = deflated_sharpe_ratio(
        sharpe=2.5 / math.sqrt(250),
        n_obs=1250,
        skewness=-3.0,
        kurtosis=10.0,
        n_trials=100,
        sharpe_variance=0.5 / 250,
    )
    assert round(result.expected_max_sharpe, 4) == 0.1132
    assert round(result.dsr, 4) == 0.9004
    assert (result.n_trials, result.n_obs, result.skewness, result.kurtosis) == (100, 1250, -3, 10)
    assert result.sharpe_variance == pytest.approx(0.002)


def test_expected_maximum_sharpe_matches_hand_computation():
    # N = 1000, V = 0.01: √V · ((1 - γ) Φ⁻¹(0.999) + γ Φ⁻¹(1 - 1/(1000 e)))
    # Φ⁻¹(0.999) = 3.090232306167813; 1 - 1/(1000e) = 0.99963212055883 -> Φ⁻¹ = 3.37649...
    q1 = 3.090232306167813
    q2 = statistics.NormalDist().inv_cdf(1 - 1 / (1000 * math.e))
    assert phi(q2) == pytest.approx(1 - 1 / (1000 * math.e), rel=1e-12)  # q2 checked by Φ
    expected = 0.1 * ((1 - GAMMA) * q1 + GAMMA * q2)
    assert expected_maximum_sharpe(n_trials=1000, sharpe_variance=0.01) == pytest.approx(
        expected, rel=1e-12
    )


@pytest.mark.parametrize(("n_trials", "variance"), [(1, 0.5), (240, 0.0)])
def test_expected_maximum_sharpe_without_selection_or_spread_is_zero(n_trials, variance):
    assert expected_maximum_sharpe(n_trials=n_trials, sharpe_variance=variance) == 0.0


def test_expected_maximum_sharpe_for_a_huge_number_of_trials_stays_exact():
    # Φ⁻¹(1 - 1/N) for N = 10^15 by symmetry: -Φ⁻¹(10^-15) = 7.941345326170997 (tables: 7.9413)
    q1 = -statistics.NormalDist().inv_cdf(1e-15)
    assert phi(-q1) == pytest.approx(1e-15, rel=1e-9)
    q2 = -statistics.NormalDist().inv_cdf(1 / (1e15 * math.e))
    expected = (1 - GAMMA) * q1 + GAMMA * q2
    assert expected_maximum_sharpe(n_trials=10**15, sharpe_variance=1.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("n_trials", "variance", "message"),
    [
        (0, 0.1, N_TRIALS_INVALID.format(value=0)),
        (2.5, 0.1, N_TRIALS_INVALID.format(value=2.5)),
        (10**16, 0.1, N_TRIALS_INVALID.format(value=10**16)),
        (10, -0.1, SHARPE_VARIANCE_NEGATIVE.format(value=-0.1)),
        (10, float("nan"), NOT_A_NUMBER.format(name="sharpe_variance", value=float("nan"))),
    ],
)
def test_expected_maximum_sharpe_bad_input_refused(n_trials, variance, message):
    with refused(message):
        expected_maximum_sharpe(n_trials=n_trials, sharpe_variance=variance)


def test_deflated_sharpe_ratio_of_a_single_trial_is_its_psr_against_zero():
    result = deflated_sharpe_ratio(
        sharpe=0.1, n_obs=101, skewness=0.0, kurtosis=3.0, n_trials=1, sharpe_variance=0.0
    )
    assert result.expected_max_sharpe == 0.0
    assert result.dsr == pytest.approx(phi(1.0 / math.sqrt(1.005)), rel=1e-12)
    assert result.min_track_record_length == pytest.approx(1 + 1.005 * (Z_95 / 0.1) ** 2)


def test_deflated_sharpe_ratio_below_the_expected_maximum_has_no_track_record_length():
    result = deflated_sharpe_ratio(
        sharpe=0.05, n_obs=500, skewness=0.0, kurtosis=3.0, n_trials=100, sharpe_variance=0.002
    )
    assert result.dsr < 0.5
    assert result.min_track_record_length is None


def _plain_moments(column: list[float]) -> tuple[float, float, float]:
    """Sharpe (statistics module), skewness and kurtosis (loops over deviations)."""
    mean = statistics.fmean(column)
    deviations = [value - mean for value in column]
    m2 = sum(d * d for d in deviations) / len(column)
    m3 = sum(d**3 for d in deviations) / len(column)
    m4 = sum(d**4 for d in deviations) / len(column)
    return mean / statistics.stdev(column), m3 / m2**1.5, m4 / m2**2


def _plain_dsr(best: list[float], sharpes: list[float], n_trials: int) -> tuple[float, float]:
    sharpe, skewness, kurtosis = _plain_moments(best)
    variance = statistics.variance(sharpes)
    normal = statistics.NormalDist()
    sr0 = math.sqrt(variance) * (
        (1 - GAMMA) * normal.inv_cdf(1 - 1 / n_trials)
        + GAMMA * normal.inv_cdf(1 - 1 / (n_trials * math.e))
    )
    term = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2
    return sr0, phi((sharpe - sr0) * math.sqrt(len(best) - 1) / math.sqrt(term))


def test_deflated_sharpe_for_trials_matches_hand_computation():
    rng = np.random.default_rng(11)
    matrix = rng.standard_t(5, size=(120, 6)) * 0.01 + np.linspace(-0.001, 0.002, 6)
    columns = [[float(v) for v in matrix[:, j]] for j in range(6)]
    sharpes = [_plain_moments(column)[0] for column in columns]
    best = max(range(6), key=lambda j: sharpes[j])
    sr0, dsr = _plain_dsr(columns[best], sharpes, 6)

    result = deflated_sharpe_for_trials(matrix)

    assert result.sharpe == pytest.approx(sharpes[best], rel=1e-12)
    assert result.sharpe_variance == pytest.approx(statistics.variance(sharpes), rel=1e-12)
    assert result.expected_max_sharpe == pytest.approx(sr0, rel=1e-12)
    assert result.dsr == pytest.approx(dsr, rel=1e-12)
    assert (result.n_obs, result.n_trials) == (120, 6)


def test_deflated_sharpe_for_trials_counts_every_trial_but_skips_constant_ones_in_variance():
    rng = np.random.default_rng(12)
    matrix = rng.normal(0.0005, 0.01, size=(80, 4))
    matrix[:, 2] = 0.0  # a parameter set that never traded
    columns = [[float(v) for v in matrix[:, j]] for j in (0, 1, 3)]
    sharpes = [_plain_moments(column)[0] for column in columns]
    _, dsr = _plain_dsr(columns[0], sharpes, 10)

    result = deflated_sharpe_for_trials(matrix, n_trials=10, best=0)

    assert result.n_trials == 10
    assert result.sharpe_variance == pytest.approx(statistics.variance(sharpes), rel=1e-12)
    assert result.dsr == pytest.approx(dsr, rel=1e-12)


def test_deflated_sharpe_for_trials_refuses_fewer_trials_than_columns():
    with refused(N_TRIALS_BELOW_COLUMNS.format(n_trials=3, columns=4)):
        deflated_sharpe_for_trials(np.random.default_rng(1).normal(size=(30, 4)), n_trials=3)


def test_deflated_sharpe_for_trials_refuses_a_variance_from_one_defined_sharpe():
    matrix = np.zeros((30, 3))
    matrix[:, 0] = np.random.default_rng(1).normal(size=30)
    with refused(SHARPE_VARIANCE_UNDEFINED.format(defined=1, columns=3)):
        deflated_sharpe_for_trials(matrix)


@pytest.mark.parametrize(
    ("matrix", "arguments", "message"),
    [
        (np.zeros((30, 0)), {}, NO_TRIALS),
        (np.full((30, 3), 0.001), {}, NO_DEFINED_SHARPE),
        (np.zeros((0, 3)), {}, NO_DEFINED_SHARPE),
        (np.ones((1, 3)), {}, NO_DEFINED_SHARPE),
        (np.random.default_rng(1).normal(size=(30, 3)), {"best": 3}, None),
        (np.random.default_rng(1).normal(size=(30, 3)), {"best": -1}, None),
        (np.random.default_rng(1).normal(size=(30, 3)), {"best": True}, None),
        (np.random.default_rng(1).normal(size=(30, 3)), {"n_trials": 0}, None),
    ],
    ids=[
        "no-trials",
        "all-constant",
        "no-rows",
        "one-row",
        "best-3",
        "best-neg",
        "best-bool",
        "n-trials-0",
    ],
)
def test_deflated_sharpe_for_trials_bad_input_refused(matrix, arguments, message):
    if message is None and "best" in arguments:
        message = BEST_INVALID.format(last=2, value=arguments["best"])
    elif message is None:
        message = N_TRIALS_INVALID.format(value=arguments["n_trials"])
    with refused(message):
        deflated_sharpe_for_trials(matrix, **arguments)


def test_deflated_sharpe_for_trials_refuses_a_chosen_trial_without_sharpe():
    matrix = np.random.default_rng(1).normal(size=(30, 3))
    matrix[:, 1] = 0.0
    with refused(BEST_SHARPE_UNDEFINED.format(best=1)):
        deflated_sharpe_for_trials(matrix, best=1)


def test_deflated_sharpe_for_trials_of_one_trial_is_its_psr_against_zero():
    column = np.random.default_rng(2).normal(0.001, 0.01, size=(50, 1))
    sharpe, skewness, kurtosis = _plain_moments([float(v) for v in column[:, 0]])
    term = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2
    result = deflated_sharpe_for_trials(column)
    assert (result.expected_max_sharpe, result.sharpe_variance) == (0.0, 0.0)
    assert result.dsr == pytest.approx(phi(sharpe * 7 / math.sqrt(term)), rel=1e-12)


# --- PBO: brute force -----------------------------------------------------------------------


def _plain_sharpe(values: list[float]) -> float:
    """The module's ranking convention, written plainly: equal values rank by their sign."""
    if min(values) == max(values):
        return math.inf if values[0] > 0 else -math.inf if values[0] < 0 else 0.0
    return statistics.fmean(values) / statistics.stdev(values)


def brute_force_logits(matrix: np.ndarray, n_splits: int) -> list[float]:
    """CSCV with loops: the oldest T mod S rows dropped, S blocks, all C(S, S/2) splits."""
    rows, n_trials = matrix.shape
    size = rows // n_splits
    kept = matrix[rows - size * n_splits :].tolist()
    blocks = [kept[i * size : (i + 1) * size] for i in range(n_splits)]
    logits = []
    for in_sample in itertools.combinations(range(n_splits), n_splits // 2):
        in_rows = [row for b in in_sample for row in blocks[b]]
        out_rows = [row for b in range(n_splits) if b not in in_sample for row in blocks[b]]
        in_perf = [_plain_sharpe([row[j] for row in in_rows]) for j in range(n_trials)]
        out_perf = [_plain_sharpe([row[j] for row in out_rows]) for j in range(n_trials)]
        best = in_perf.index(max(in_perf))
        mine = out_perf[best]
        rank = 1 + sum(p < mine for p in out_perf) + (sum(p == mine for p in out_perf) - 1) / 2
        omega = rank / (n_trials + 1)
        logits.append(math.log(omega / (1 - omega)))
    return logits


def _awkward_matrix(seed: int) -> np.ndarray:
    """25 x 7 with ties and sets of equal rows: a trial that never trades, a duplicate, trials
    flat or constant for one half (their Sharpe there is 0, +inf or -inf, not rounding noise)."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.01, size=(25, 7))
    matrix[:, 1] = 0.0  # never trades
    matrix[:, 2] = matrix[:, 0]  # duplicate of trial 0
    matrix[13:, 3] = 0.0004  # a constant gain in the second half
    matrix[:13, 4] = 0.0  # flat in the first half, then trades
    matrix[13:, 5] = -0.0002  # a constant loss in the second half
    return matrix


@pytest.mark.parametrize(
    ("matrix", "n_splits", "dropped"),
    [
        (np.random.default_rng(3).normal(0.0, 0.01, size=(12, 5)), 4, 0),
        (np.random.default_rng(4).normal(0.0, 0.01, size=(13, 5)), 4, 1),
        (_awkward_matrix(5), 6, 1),
        (_awkward_matrix(7), 2, 1),
    ],
    ids=["12x5-S4", "13x5-S4-drops-one", "awkward-S6", "awkward-S2"],
)
def test_pbo_logits_match_brute_force(matrix, n_splits, dropped):
    expected = brute_force_logits(matrix, n_splits)
    result = probability_of_backtest_overfitting(matrix, n_splits=n_splits)
    np.testing.assert_allclose(result.logits, expected, rtol=0, atol=1e-12)
    assert result.pbo == pytest.approx(sum(v <= 0 for v in expected) / len(expected))
    assert result.median_logit == pytest.approx(statistics.median(expected))
    assert result.n_combinations == math.comb(n_splits, n_splits // 2) == len(expected)
    assert (result.n_splits, result.n_trials, result.rows_dropped) == (
        n_splits,
        matrix.shape[1],
        dropped,
    )
    assert result.block_rows == (matrix.shape[0] - dropped) // n_splits


def test_pbo_in_small_chunks_matches_brute_force(monkeypatch):
    monkeypatch.setattr(overfitting, "_CHUNK_PRODUCT_SIZE", 1)  # one split per chunk
    matrix = _awkward_matrix(5)
    result = probability_of_backtest_overfitting(matrix, n_splits=6)
    np.testing.assert_allclose(result.logits, brute_force_logits(matrix, 6), rtol=0, atol=1e-12)


def test_pbo_ignores_the_oldest_rows_that_do_not_fill_a_block():
    matrix = np.random.default_rng(6).normal(0.0, 0.01, size=(16, 4))
    spoiled = np.vstack([np.full((3, 4), [5.0, -5.0, 0.0, 9.0]), matrix])
    a = probability_of_backtest_overfitting(matrix, n_splits=4)
    b = probability_of_backtest_overfitting(spoiled, n_splits=4)
    np.testing.assert_array_equal(a.logits, b.logits)
    assert b.rows_dropped == 3


# --- PBO: hand-built cases ------------------------------------------------------------------


def test_pbo_one_trial_dominating_every_split_is_zero():
    rng = np.random.default_rng(7)
    matrix = rng.normal(0.0, 0.01, size=(320, 8))
    matrix[:, 3] += 0.02  # mean 2 std above the others: best in-sample and out-of-sample
    result = probability_of_backtest_overfitting(matrix, n_splits=16)
    assert result.pbo == 0.0
    # rank N of N: ω = 8/9, λ = ln 8 in every split
    np.testing.assert_allclose(result.logits, math.log(8), rtol=1e-12)
    assert result.median_logit == pytest.approx(math.log(8))
    assert result.probability_of_loss == 0.0
    assert result.n_combinations == 12870


@pytest.mark.parametrize("n_splits", [2, 4, 6])
def test_pbo_in_sample_best_always_out_of_sample_worst_is_one(n_splits):
    # One trial per split H: +1 a row in H's blocks, -1 in the others (plus a wiggle so no
    # block is flat). In-sample on H, trial H has the best Sharpe; out-of-sample it is the
    # only trial with -1 in every block: the worst.
    splits = list(itertools.combinations(range(n_splits), n_splits // 2))
    wiggle = np.array([0.1, -0.1, 0.2, -0.2])
    columns = [
        np.concatenate([(1.0 if b in split else -1.0) + wiggle for b in range(n_splits)])
        for split in splits
    ]
    matrix = np.column_stack(columns)
    result = probability_of_backtest_overfitting(matrix, n_splits=n_splits)
    n = len(splits)
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.logits, math.log(1 / n), rtol=1e-12)  # rank 1 of n
    assert result.probability_of_loss == 1.0


def test_pbo_of_pure_noise_is_near_one_half():
    # For i.i.d. noise the in-sample best's out-of-sample rank is uniform, so E[PBO] = 1/2
    # exactly (N even, no ties). One matrix's PBO spreads widely (σ ≈ 0.23 for 240 x 10, S = 8:
    # its splits share rows), so average 200 seeded matrices: σ of the mean ≈ 0.016, and the
    # tolerance 0.07 is over 4 of those.
    rng = np.random.default_rng(2024)
    values = [
        probability_of_backtest_overfitting(rng.normal(0.0, 0.01, size=(240, 10)), n_splits=8).pbo
        for _ in range(200)
    ]
    assert abs(statistics.fmean(values) - 0.5) <= 0.07


def test_pbo_all_trials_flat_counts_as_overfit():
    # Nothing traded: every trial ties out of sample at the median rank, λ = 0 <= 0.
    result = probability_of_backtest_overfitting(np.zeros((40, 3)), n_splits=4)
    np.testing.assert_array_equal(result.logits, np.zeros(6))
    assert (result.pbo, result.probability_of_loss) == (1.0, 0.0)


def test_pbo_accepts_lists_and_reports_json_safe_fields():
    matrix = np.random.default_rng(8).normal(0.0, 0.01, size=(24, 3))
    result = probability_of_backtest_overfitting(matrix.tolist(), n_splits=4)
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["logits"] == pytest.approx(brute_force_logits(matrix, 4), abs=1e-12)
    assert set(data) == {
        "pbo",
        "logits",
        "median_logit",
        "probability_of_loss",
        "n_splits",
        "n_combinations",
        "n_trials",
        "block_rows",
        "rows_dropped",
    }


# --- PBO: refusals --------------------------------------------------------------------------


def _noise(rows: int, columns: int) -> np.ndarray:
    return np.random.default_rng(9).normal(0.0, 0.01, size=(rows, columns))


def _with(matrix: np.ndarray, row: int, column: int, value: float) -> np.ndarray:
    matrix = matrix.copy()
    matrix[row, column] = value
    return matrix


@pytest.mark.parametrize(
    ("matrix", "n_splits", "message"),
    [
        (_noise(100, 1), 4, TOO_FEW_TRIALS.format(count=1)),
        (_noise(100, 0), 4, TOO_FEW_TRIALS.format(count=0)),
        (np.zeros(100), 4, MATRIX_NOT_2D.format(shape=(100,))),
        (np.zeros((4, 5, 2)), 2, MATRIX_NOT_2D.format(shape=(4, 5, 2))),
        (
            _with(_noise(100, 4), 37, 2, float("nan")),
            4,
            RETURNS_NOT_FINITE.format(
                what="the returns matrix", count=1, where="row 37, trial (column) 2"
            ),
        ),
        (
            _with(_with(_noise(100, 4), 50, 1, -float("inf")), 60, 3, float("inf")),
            4,
            RETURNS_NOT_FINITE.format(
                what="the returns matrix", count=2, where="row 50, trial (column) 1"
            ),
        ),
        (
            _with(_noise(100, 4), 99, 3, 1e51),
            4,
            RETURNS_TOO_LARGE.format(
                what="the returns matrix", count=1, where="row 99, trial (column) 3"
            ),
        ),
        (_noise(100, 4), 7, SPLITS_ODD.format(value=7)),
        (_noise(100, 4), 1, SPLITS_TOO_FEW.format(value=1)),
        (_noise(100, 4), 0, SPLITS_TOO_FEW.format(value=0)),
        (_noise(100, 4), -4, SPLITS_TOO_FEW.format(value=-4)),
        (_noise(100, 4), 16.0, SPLITS_NOT_INTEGER.format(value=16.0)),
        (_noise(100, 4), "16", SPLITS_NOT_INTEGER.format(value="16")),
        (_noise(100, 4), True, SPLITS_NOT_INTEGER.format(value=True)),
        (
            _noise(100, 4),
            24,
            SPLITS_TOO_MANY_COMBINATIONS.format(
                value=24, count=2704156, limit=1_000_000, largest=22
            ),
        ),
        (_noise(10, 4), 16, SPLITS_MORE_THAN_ROWS.format(value=16, rows=10)),
    ],
    ids=[
        "one-trial",
        "no-trial",
        "one-dimensional",
        "three-dimensional",
        "nan",
        "infinities",
        "huge",
        "odd",
        "one",
        "zero",
        "negative",
        "float",
        "string",
        "bool",
        "too-many-combinations",
        "more-splits-than-rows",
    ],
)
def test_pbo_invalid_input_refused(matrix, n_splits, message):
    with refused(message):
        probability_of_backtest_overfitting(matrix, n_splits=n_splits)


def test_pbo_blocks_too_short_refused_with_rows_and_minimum():
    with refused(
        "with 20 rows and n_splits=16, each block would get 1 row(s); a block needs at least "
        "2 rows to compute a Sharpe ratio, so n_splits=16 needs at least 32 rows; with 20 rows "
        "use n_splits <= 10"
    ):
        probability_of_backtest_overfitting(_noise(20, 4), n_splits=16)


def test_pbo_blocks_too_short_without_any_usable_split_gives_no_advice():
    message = BLOCKS_TOO_SHORT.format(rows=3, value=2, block=1, minimum=2, needed=4, advice="")
    with refused(message):
        probability_of_backtest_overfitting(_noise(3, 4), n_splits=2)


def test_pbo_non_numeric_matrix_refused():
    with pytest.raises(OverfittingInputError, match="^the returns matrix must hold numbers only"):
        probability_of_backtest_overfitting([["a", "b"], ["c", "d"]], n_splits=2)


def test_overfitting_input_error_is_a_value_error_and_a_400():
    with pytest.raises(ValueError) as caught:
        probability_of_backtest_overfitting(_noise(100, 4), n_splits=3)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.status == 400
    assert caught.value.message == SPLITS_ODD.format(value=3)


# --- Verdict --------------------------------------------------------------------------------


def _dsr(**changes) -> DSRResult:
    fields = {
        "sharpe": 0.06,
        "n_obs": 1250,
        "skewness": -0.5,
        "kurtosis": 5.0,
        "n_trials": 240,
        "sharpe_variance": 0.0004,
        "expected_max_sharpe": 0.055,
        "dsr": 0.41,
        "min_track_record_length": 3100.2,
    }
    return DSRResult(**{**fields, **changes})


def _pbo(pbo: float, loss: float = 0.25) -> PBOResult:
    return PBOResult(
        pbo=pbo,
        logits=np.zeros(12870),
        median_logit=0.0,
        probability_of_loss=loss,
        n_splits=16,
        n_combinations=12870,
        n_trials=240,
        block_rows=15,
        rows_dropped=10,
    )


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            _dsr(),
            "The best of 240 trials has a deflated Sharpe of 0.41: not distinguishable from "
            "luck (it would need about 3,101 observations to reach 0.95, it has 1,250).",
        ),
        (
            _dsr(dsr=0.9731, min_track_record_length=1000.0),
            "The best of 240 trials has a deflated Sharpe of 0.97: likely genuine (0.95 or more).",
        ),
        (
            _dsr(dsr=0.95),
            "The best of 240 trials has a deflated Sharpe of 0.95: likely genuine (0.95 or more).",
        ),
        (
            _dsr(dsr=0.9496),
            "The best of 240 trials has a deflated Sharpe of 0.9496: not distinguishable from "
            "luck (it would need about 3,101 observations to reach 0.95, it has 1,250).",
        ),
        (
            _dsr(dsr=0.2, sharpe=0.05, min_track_record_length=None),
            "The best of 240 trials has a deflated Sharpe of 0.20: not distinguishable from "
            "luck (its Sharpe ratio of 0.0500 per observation is not above the 0.0550 that "
            "luck alone gives).",
        ),
        (
            _dsr(n_trials=1, dsr=0.993, expected_max_sharpe=0.0),
            "The single trial has a probabilistic Sharpe of 0.99 against 0: likely genuine "
            "(0.95 or more).",
        ),
    ],
)
def test_overfitting_verdict_for_dsr(result, expected):
    assert overfitting_verdict(dsr=result) == expected


@pytest.mark.parametrize(
    ("pbo", "shown", "words", "splits"),
    [
        (0.05, "0.05", "low risk of overfitting", "644"),
        (0.1, "0.10", "low risk of overfitting", "1,287"),
        (0.3, "0.30", "a real risk of overfitting", "3,861"),
        (0.5, "0.50", "a real risk of overfitting", "6,435"),
        (0.5004, "0.5004", "more likely overfit than not", "6,440"),
        (0.62, "0.62", "more likely overfit than not", "7,979"),
    ],
)
def test_overfitting_verdict_for_pbo(pbo, shown, words, splits):
    assert overfitting_verdict(pbo=_pbo(pbo)) == (
        f"Probability of backtest overfitting {shown}: {words} (the in-sample best of 240 "
        f"trials was at or below the out-of-sample median in {splits} of 12,870 splits, and "
        "lost money out of sample in 25% of them)."
    )


def test_overfitting_verdict_of_the_worked_example_gives_both_sentences():
    result = deflated_sharpe_ratio(
        sharpe=2.5 / math.sqrt(250),
        n_obs=1250,
        skewness=-3.0,
        kurtosis=10.0,
        n_trials=100,
        sharpe_variance=0.5 / 250,
    )
    # MinTRL against SR0: 1 + (1 + 3 SR + 9/4 SR²) (1.6449 / (SR - 0.113172))² = 2051.3
    sharpe = 2.5 / math.sqrt(250)
    length = 1 + (1 + 3 * sharpe + 2.25 * sharpe**2) * (Z_95 / (sharpe - 0.11317200186513)) ** 2
    assert math.ceil(length) == 2052
    assert overfitting_verdict(dsr=result, pbo=_pbo(0.62, loss=0.4)) == (
        "The best of 100 trials has a deflated Sharpe of 0.90: not distinguishable from luck "
        "(it would need about 2,052 observations to reach 0.95, it has 1,250). "
        "Probability of backtest overfitting 0.62: more likely overfit than not (the in-sample "
        "best of 240 trials was at or below the out-of-sample median in 7,979 of 12,870 "
        "splits, and lost money out of sample in 40% of them)."
    )


def test_overfitting_verdict_without_results_refused():
    with refused(VERDICT_NOTHING):
        overfitting_verdict()


def test_dsr_result_is_json_safe():
    result = deflated_sharpe_ratio(
        sharpe=0.01, n_obs=300, skewness=0.0, kurtosis=3.0, n_trials=50, sharpe_variance=0.001
    )
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["min_track_record_length"] is None
    assert data["n_trials"] == 50


# --- Purity ---------------------------------------------------------------------------------


def test_overfitting_module_imports_no_django_and_no_scipy():
    script = (
        "import sys, backtests.studies.overfitting\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('django', 'rest_framework', 'scipy')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
