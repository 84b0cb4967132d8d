"""``Client``: the workbench's JSON API from Python, with results as pandas DataFrames.

Authentication is a DRF token (``Authorization: Token ...``): take it from the admin or
``POST /api/auth/token``, or let ``Client.login`` ask for it. Tables come from the export
routes (CSV, full precision); timestamp columns arrive as ``datetime64[ns, UTC]`` (a
column ``ts_event_ns`` becomes ``ts_event``; ``entry_ts``, ``exit_ts`` and ``ts`` keep
their names). Every error of the API raises ``OstError`` with its status and message.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import requests

BAR_PERIOD_RTYPES = {"SECOND": 32, "MINUTE": 33, "HOUR": 34, "DAY": 35}
ACTIVE = ("queued", "running")
DEFAULT_TIMEOUT = 60.0


class OstError(Exception):
    """An error answer of the API: ``status`` (HTTP), ``message``, ``fields`` (per field)."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.fields = fields or {}


class RunFailed(OstError):
    """``wait`` saw the run end ``failed``; ``message`` is the run's error."""


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.to_numeric(values), unit="ns", utc=True)


def _with_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer UTC-ns columns as UTC datetimes (``*_ns`` renamed without the suffix)."""
    renames = {}
    for name in frame.columns:
        if name.endswith("_ns"):
            frame[name] = _utc(frame[name])
            renames[name] = name[: -len("_ns")]
        elif name == "ts" or name.endswith("_ts"):
            frame[name] = _utc(frame[name])
    return frame.rename(columns=renames)


@dataclass
class Comparison:
    """``GET /api/runs/compare`` as frames.

    ``metrics``: one row per metric (index: key), a column per run id, plus ``better``
    (higher/lower/None) and ``best`` (the best run ids of the row). ``config``: one row per
    config key, a column per run, ``differs``. ``per_symbol``: net P&L per symbol and run.
    ``curves``: run id -> frame indexed by UTC time with ``return_pct`` and
    ``drawdown_pct``. ``raw``: the JSON answer.
    """

    run_ids: list[str]
    metrics: pd.DataFrame
    config: pd.DataFrame
    per_symbol: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    raw: dict[str, Any] = field(repr=False)

    @property
    def differences(self) -> pd.DataFrame:
        """Only the config keys whose values differ between the runs."""
        return self.config[self.config["differs"]].drop(columns="differs")


class Client:
    """The workbench at ``url`` (e.g. ``http://127.0.0.1:8000``) with an API ``token``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.session.headers["Accept"] = "application/json"

    @classmethod
    def login(cls, url: str, username: str, password: str, **kwargs: Any) -> Client:
        """A client with the token ``POST /api/auth/token`` gives for these credentials."""
        response = requests.post(
            url.rstrip("/") + "/api/auth/token",
            data={"username": username, "password": password},
            timeout=kwargs.get("timeout", DEFAULT_TIMEOUT),
        )
        return cls(url, _json(response)["token"], **kwargs)

    # --- plumbing ---------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        response = self.session.request(method, self.url + path, **kwargs)
        if response.status_code >= 400:
            _raise(response)
        return response

    def _get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return _json(self._request("GET", path, params=clean))

    def table(self, run_id: str, name: str) -> pd.DataFrame:
        """One exported table of a run (``roundtrips``, ``fills``, ``order_submissions``,
        ``orders_accepted``, ..., ``equity``, ``equity_daily``, ``metrics``) as a frame."""
        response = self._request("GET", f"/api/runs/{_q(run_id)}/export/{_q(name)}.csv")
        frame = pd.read_csv(io.BytesIO(response.content))
        if "day" in frame.columns:
            frame["day"] = pd.to_datetime(frame["day"], utc=True)
        return _with_datetimes(frame)

    # --- runs -------------------------------------------------------------------------

    def runs(self, limit: int = 50) -> pd.DataFrame:
        """Recent runs, newest first: id, name, status, strategy, symbols, start/end (UTC),
        net P&L, and each run's ``config`` and ``metadata``."""
        rows = self._get("/api/runs", limit=limit)["runs"]
        columns = ["run_id", "name", "status", "strategy", "symbols", "started", "ended"]
        frame = pd.DataFrame(
            [
                {
                    "run_id": r["run_id"],
                    "name": r["name"],
                    "status": r["status"],
                    "strategy": (r.get("config") or {}).get("strategy"),
                    "symbols": (r.get("config") or {}).get("symbols"),
                    "started": r["ts_start"],
                    "ended": r["ts_end"],
                    "net_pnl": (r.get("metadata") or {}).get("net_pnl"),
                    "progress": r["progress"],
                    "config": r.get("config"),
                    "metadata": r.get("metadata"),
                }
                for r in rows
            ],
            columns=[*columns, "net_pnl", "progress", "config", "metadata"],
        )
        for name in ("started", "ended"):
            frame[name] = pd.to_datetime(frame[name], unit="ns", utc=True)
        return frame

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as the API shows it (config, metadata, status, progress)."""
        return self._get(f"/api/runs/{_q(run_id)}")

    def metrics(self, run_id: str, symbol: str | None = None) -> dict[str, Any]:
        """The run's metrics (README: Definitions), with ``per_symbol``, ``notes``,
        ``warnings``; one symbol's when ``symbol`` is given."""
        return self._get(f"/api/runs/{_q(run_id)}/metrics", symbol=symbol)

    def roundtrips(self, run_id: str) -> pd.DataFrame:
        """Closed round trips at full precision, numbered by entry time."""
        return self.table(run_id, "roundtrips")

    def fills(self, run_id: str) -> pd.DataFrame:
        """Every fill in execution order."""
        return self.table(run_id, "fills")

    def equity(self, run_id: str, *, daily: bool = False) -> pd.DataFrame:
        """The stored equity series indexed by UTC time (``equity``, ``equity_low``,
        ``equity_high``, ``benchmark``, ``gross_exposure``); with ``daily``, the equity and
        benchmark at each trading day's end, indexed by day."""
        if daily:
            return self.table(run_id, "equity_daily").set_index("day")
        return self.table(run_id, "equity").set_index("ts")

    def export(self, run_id: str, path: str | Path, *, format: str = "parquet") -> Path:
        """Download the run's export zip (tables, metrics, strategy source, manifest)."""
        target = Path(path)
        if target.is_dir():
            target = target / f"{run_id}-{format}.zip"
        response = self._request(
            "GET", f"/api/runs/{_q(run_id)}/export.zip", params={"format": format}, stream=True
        )
        with target.open("wb") as sink:
            for piece in response.iter_content(1 << 20):
                sink.write(piece)
        return target

    # --- backtests ----------------------------------------------------------------------

    def backtest(
        self,
        strategy: str,
        symbols: Sequence[str],
        *,
        params: dict[str, Any] | None = None,
        bar_period: str = "MINUTE",
        publisher_id: int | None = None,
        start: str | None = None,
        end: str | None = None,
        name: str | None = None,
        **options: Any,
    ) -> str:
        """Queue a backtest; returns its run id. ``options`` are further fields of
        ``POST /api/backtest/run`` (``capital``, ``commission_per_unit``, ``record``,
        ``fill_timing``, ...). Without ``publisher_id``, the only dataset of that bar period
        is used (an ``OstError`` lists them when there are several)."""
        rtype = BAR_PERIOD_RTYPES.get(bar_period.upper())
        if rtype is None:
            raise ValueError(f"bar_period must be one of {', '.join(BAR_PERIOD_RTYPES)}")
        if publisher_id is None:
            publisher_id = self._only_publisher(rtype)
        body = {
            "strategy": strategy,
            "strategy_params": params or {},
            "symbols": list(symbols),
            "rtype": rtype,
            "publisher_id": publisher_id,
            "start_date": start,
            "end_date": end,
            "name": name,
            **options,
        }
        return _json(self._request("POST", "/api/backtest/run", json=body))["run_id"]

    def _only_publisher(self, rtype: int) -> int:
        choices = []
        for publisher in self._get("/api/secmaster/publishers", rtype=rtype)["publishers"]:
            datasets = self._get(f"/api/secmaster/publishers/{_q(publisher)}/datasets", rtype=rtype)
            choices += [(publisher, d["dataset"], d["publisher_id"]) for d in datasets["datasets"]]
        if len(choices) != 1:
            listed = ", ".join(f"{p} {d} (publisher_id={i})" for p, d, i in choices) or "none"
            raise OstError(400, f"choose a publisher_id: {listed}", {"publisher_id": listed})
        return choices[0][2]

    def status(self, run_id: str) -> dict[str, Any]:
        """``{"run_id", "status", "progress"}`` (and ``error`` once failed)."""
        return self._get(f"/api/backtest/status/{_q(run_id)}")

    def wait(self, run_id: str, *, timeout: float = 600.0, poll: float = 1.0) -> dict[str, Any]:
        """Wait until the run stops; its final status. ``RunFailed`` when it failed,
        ``TimeoutError`` (naming its status and progress) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.status(run_id)
            if state["status"] not in ACTIVE:
                if state["status"] == "failed":
                    raise RunFailed(200, state.get("error") or "the run failed")
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"run {run_id} is still {state['status']} ({state['progress']:.0f} %) "
                    f"after {timeout:g} s"
                )
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def cancel(self, run_id: str) -> dict[str, Any]:
        return _json(self._request("POST", f"/api/backtest/{_q(run_id)}/cancel"))

    # --- comparing ----------------------------------------------------------------------

    def compare(self, run_ids: Iterable[str]) -> Comparison:
        """Runs side by side (``GET /api/runs/compare``) as frames (see ``Comparison``)."""
        ids = list(run_ids)
        raw = self._get("/api/runs/compare", run_ids=",".join(ids))
        order = [run["run_id"] for run in raw["runs"]]
        metrics = pd.DataFrame(
            {
                **{
                    run_id: [row["values"][i] for row in raw["metrics"]]
                    for i, run_id in enumerate(order)
                },
                "better": [row["better"] for row in raw["metrics"]],
                "best": [[order[i] for i in row["best"]] for row in raw["metrics"]],
            },
            index=pd.Index([row["key"] for row in raw["metrics"]], name="metric"),
        )
        config = pd.DataFrame(
            {
                **{
                    run_id: [row["values"][i] for row in raw["config"]]
                    for i, run_id in enumerate(order)
                },
                "differs": [row["differs"] for row in raw["config"]],
            },
            index=pd.Index([row["key"] for row in raw["config"]], name="key"),
        )
        per_symbol = pd.DataFrame(
            {
                run_id: [row["net_pnl"][i] for row in raw["per_symbol"]]
                for i, run_id in enumerate(order)
            },
            index=pd.Index([row["symbol"] for row in raw["per_symbol"]], name="symbol"),
        )
        curves = {
            curve["run_id"]: pd.DataFrame(
                {"return_pct": curve["return_pct"], "drawdown_pct": curve["drawdown_pct"]},
                index=pd.DatetimeIndex(_utc(pd.Series(curve["ts"], dtype="int64")), name="ts"),
            )
            for curve in raw["curves"]
        }
        return Comparison(order, metrics, config, per_symbol, curves, raw)


def _q(value: str) -> str:
    return requests.utils.quote(str(value), safe="")


def _json(response: requests.Response) -> Any:
    if response.status_code >= 400:
        _raise(response)
    return response.json()


def _raise(response: requests.Response) -> None:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("error") if isinstance(body, dict) else None
    fields = body.get("fields") if isinstance(body, dict) else None
    raise OstError(response.status_code, message or response.reason or "request failed", fields)
