/* The performance page: a completed run's metrics, charts and round trips, per symbol.
   The run, symbol and open trade are in the URL (?run=&symbol=&trade=); a clicked trade opens
   its chart in a dialog over the page (Previous / Next go through the table's order, across
   its pages); that chart and the equity chart are interactive (static/js/ichart.js), with
   their PNGs a link away. Trade numbers are the run's, the same whichever symbol is shown. Every figure is
   the server's stored metrics (README: Capital, equity and metrics); none is computed here. */
(function () {
  "use strict";
  const { api, el, say, num, signClass, params } = window.OST;
  const charts = window.OST.charts;
  const ichart = window.OST.ichart;
  const $ = (id) => document.getElementById(id);

  const state = { runs: [], runId: "", table: null, token: 0, trade: null };

  // The metrics, in groups and in display order: [key, label, format]. Formats: money, int,
  // pct (a value in %), share (a 0-1 ratio shown in %), ratio, dec1, days, seconds.
  const GROUPS = [
    ["Account", [
      ["net_pnl", "Net P&L", "money"],
      ["realised_pnl", "Realised P&L", "money"],
      ["open_pnl", "Open P&L", "money"],
      ["total_return_pct", "Return", "pct"],
      ["final_equity", "Final equity", "level"],
      ["capital", "Capital", "level"],
      ["gross_pnl", "Gross P&L", "money"],
      ["commission", "Commission", "money"],
    ]],
    ["Risk and return", [
      ["cagr_pct", "CAGR", "pct"],
      ["volatility_pct", "Volatility (annual)", "pct"],
      ["sharpe", "Sharpe", "ratio"],
      ["sortino", "Sortino", "ratio"],
      ["calmar", "Calmar", "ratio"],
      ["max_drawdown", "Max drawdown", "money"],
      ["max_drawdown_pct", "Max drawdown %", "pct"],
      ["max_drawdown_duration_days", "Longest drawdown", "days"],
      ["exposure_pct", "Exposure", "pct"],
      ["max_leverage", "Max leverage", "ratio"],
      ["turnover", "Turnover", "ratio"],
      ["trading_days", "Trading days", "int"],
    ]],
    ["Against buy and hold", [
      ["benchmark_return_pct", "Buy and hold", "pct"],
      ["excess_return_pct", "Excess return", "pct"],
      ["beta", "Beta", "ratio"],
      ["correlation", "Correlation", "ratio"],
    ]],
    ["Trades", [
      ["trades", "Closed trades", "int"],
      ["open_trades", "Open positions", "int"],
      ["wins", "Wins", "int"],
      ["losses", "Losses", "int"],
      ["win_rate", "Win rate", "share"],
      ["profit_factor", "Profit factor", "ratio"],
      ["expectancy", "Expectancy", "money"],
      ["avg_win", "Average win", "money"],
      ["avg_loss", "Average loss", "money"],
      ["largest_win", "Largest win", "money"],
      ["largest_loss", "Largest loss", "money"],
      ["avg_duration_bars", "Avg. duration (bars)", "dec1"],
      ["avg_duration_seconds", "Avg. duration", "seconds"],
    ]],
  ];
  // Sizes of losses or costs, reported as positive numbers: not coloured as gains.
  const NEUTRAL = new Set(["commission", "max_drawdown", "max_drawdown_pct"]);

  function formatMetric(value, kind) {
    if (value === null || value === undefined) return "—";
    if (kind === "int") return num(value, 0);
    if (kind === "share") return num(Number(value) * 100, 1) + " %";  // the API sends a ratio
    if (kind === "pct") return num(value) + " %";
    if (kind === "seconds") return window.OST.duration(0, Number(value) * 1e9);
    if (kind === "days") return num(value, 1) + " d";
    if (kind === "dec1") return num(value, 1);
    return num(value);
  }

  function renderWarnings(warnings) {
    const box = $("run-warnings");
    box.replaceChildren(...(warnings || []).map((text) => el("li", { text: text })));
    box.hidden = !box.children.length;
  }

  function renderMetrics(metrics) {
    const box = $("metrics");
    box.replaceChildren();
    const notes = metrics.notes || {};
    for (const [title, items] of GROUPS) {
      const shown = items.filter(([key]) => key in metrics);
      if (!shown.length) continue;
      box.append(el("h3", { class: "metric-group", text: title }));
      const why = new Map();  // a reason -> the labels of the metrics it leaves empty
      for (const [key, label, kind] of shown) {
        const value = metrics[key];
        const colored = (kind === "money" || kind === "pct") && !NEUTRAL.has(key) && key !== "exposure_pct"
          && key !== "cagr_pct" && key !== "volatility_pct";
        // A null profit factor with wins means there was no losing trade (metrics.py).
        const noLoss = key === "profit_factor" && value === null && Number(metrics.wins) > 0;
        const note = value === null && notes[key] ? notes[key] : "";
        if (note) why.set(note, [...(why.get(note) || []), label]);
        box.append(el("div", { class: "metric", dataset: { metric: key }, title: note }, [
          el("div", { class: "metric-label", text: label }),
          el("div", { class: "metric-value " + (colored ? signClass(value) : ""), text: noLoss ? "∞ (no loss)" : formatMetric(value, kind) }),
        ]));
      }
      // Why a statistic is empty, said once a group: "Sharpe, Sortino: needs 20+ trading days…"
      for (const [note, labels] of why) {
        box.append(el("p", { class: "metric-notes", text: labels.join(", ") + ": " + note }));
      }
    }
    if (!box.children.length) box.append(el("p", { class: "muted", text: "No metrics for this selection." }));
  }

  function renderPerSymbol(perSymbol) {
    const entries = Object.entries(perSymbol || {});
    const card = $("per-symbol-card");
    card.hidden = $("symbol").value !== "" || entries.length < 2;
    const body = $("per-symbol").tBodies[0];
    body.replaceChildren();
    for (const [symbol, m] of entries) {
      const pick = el("button", { type: "button", class: "link-button", text: symbol, "aria-label": "Show only " + symbol });
      pick.addEventListener("click", () => { $("symbol").value = symbol; loadAnalysis(); });
      const noLoss = m.profit_factor === null && Number(m.wins) > 0;
      body.append(el("tr", { dataset: { symbol: symbol } }, [
        el("td", {}, [pick]),
        el("td", { class: "num", text: formatMetric(m.trades, "int") }),
        el("td", { class: "num", text: formatMetric(m.win_rate, "pct") }),
        el("td", { class: "num " + signClass(m.net_pnl), text: formatMetric(m.net_pnl, "money") }),
        el("td", { class: "num " + signClass(m.open_pnl), text: formatMetric(m.open_pnl, "money") }),
        el("td", { class: "num", text: noLoss ? "∞" : formatMetric(m.profit_factor, "ratio") }),
        el("td", { class: "num " + signClass(m.expectancy), text: formatMetric(m.expectancy, "money") }),
        el("td", { class: "num", text: formatMetric(m.max_drawdown, "money") }),
        el("td", { class: "num", text: formatMetric(m.exposure_pct, "pct") }),
      ]));
    }
  }

  function runUrl(path, symbol) {
    return "/api/runs/" + encodeURIComponent(state.runId) + "/" + path + params({ symbol: symbol });
  }

  async function loadAnalysis() {
    const token = ++state.token;
    const symbol = $("symbol").value;
    charts.setQuery({ symbol: symbol, trade: null });
    closeTrade();
    $("metrics").replaceChildren(el("p", { class: "muted", text: "Loading metrics…" }));
    state.table.message("Loading round trips…");
    $("trade-count").textContent = "";
    charts.loadImage($("pnl-summary"), runUrl("pnl-summary.png", symbol), charts.statusFor($("pnl-summary")), $("pnl-summary-link"));
    charts.loadImage($("journey"), runUrl("trade-journey.png", symbol), charts.statusFor($("journey")), $("journey-link"));
    $("equity-link").href = runUrl("equity.png", symbol);
    ichart.loadLines($("equity"), runUrl("equity", symbol), ichart.equitySeries, { status: $("equity-status") });
    const runId = state.runId;
    const source = (query) => charts.roundtripPage(runId, Object.assign({ symbol: symbol }, query));
    const [metrics, trips] = await Promise.allSettled([api.get(runUrl("metrics", symbol)), state.table.setSource(source)]);
    if (token !== state.token) return;
    if (metrics.status === "fulfilled") {
      renderMetrics(metrics.value);
      renderPerSymbol(metrics.value.per_symbol);
      if (!symbol) renderWarnings(metrics.value.warnings);
    }
    else $("metrics").replaceChildren(el("p", { class: "status status-error", text: "Cannot load metrics: " + metrics.reason.message }));
    if (trips.status === "fulfilled") {
      $("trade-count").textContent = "(" + num(state.table.count, 0) + ")";
    } else {
      state.table.message("Cannot load round trips: " + trips.reason.message);
    }
  }

  function showTrade(rt) {
    state.trade = rt;
    charts.setQuery({ trade: rt.n });
    $("trade-heading").textContent = "Trade " + rt.n + " · " + rt.symbol + " · " + rt.direction +
      " · net " + num(rt.pnl_after_commission);
    const host = $("trade-chart");
    host.setAttribute("aria-label", "Chart of trade " + rt.n + ": " + rt.symbol + " " + rt.direction);
    $("trade-chart-link").href = charts.tradeChartUrl(state.runId, rt);
    ichart.loadPrice(host, ichart.tradeDataUrl(state.runId, rt), { status: $("trade-status"), roundtrip: rt, height: 380 });
    $("trade-browse").href = "/chart" + params({ run: state.runId, symbol: rt.symbol, trade: rt.n });
    $("trade-previous").disabled = !state.table.hasNeighbour(rt, "previous");
    $("trade-next").disabled = !state.table.hasNeighbour(rt, "next");
    state.table.mark(rt);
    const dialog = $("trade-dialog");
    if (!dialog.open) dialog.showModal();
  }

  function closeTrade() {
    const dialog = $("trade-dialog");
    if (dialog.open) dialog.close();
  }

  async function stepTrade(which) {
    if (!state.trade) return;
    const other = await state.table.neighbour(state.trade, which);
    if (other) showTrade(other);
  }

  async function selectRun(wantedSymbol, wantedTrade) {
    state.runId = $("run").value;
    charts.setQuery({ run: state.runId, symbol: null, trade: null });
    $("analysis").hidden = !state.runId;
    if (!state.runId) return;
    const run = state.runs.find((r) => r.run_id === state.runId);
    $("run-summary").textContent = run ? charts.runSummary(run) : "";
    try {
      const data = await charts.fillSymbolPicker($("symbol"), state.runId, "All symbols");
      if (wantedSymbol && (data.symbols || []).includes(wantedSymbol)) $("symbol").value = wantedSymbol;
      else if (wantedSymbol) say($("page-status"), "Symbol " + wantedSymbol + " is not part of this run.", "error");
    } catch (err) {
      say($("page-status"), "Cannot load the run's symbols: " + err.message, "error");
    }
    await loadAnalysis();
    if (wantedTrade) {
      const trade = await charts.roundtripByNumber(state.runId, wantedTrade).catch(() => null);
      if (trade) showTrade(trade);
      else say($("page-status"), "Trade " + wantedTrade + " is not a trade of this run.", "error");
    }
  }

  async function init() {
    state.table = new charts.RoundtripTable($("roundtrips"), showTrade);
    $("run").addEventListener("change", () => { say($("page-status"), ""); selectRun(); });
    $("symbol").addEventListener("change", loadAnalysis);
    $("trade-close").addEventListener("click", closeTrade);
    $("trade-previous").addEventListener("click", () => stepTrade("previous"));
    $("trade-next").addEventListener("click", () => stepTrade("next"));
    const dialog = $("trade-dialog");
    dialog.addEventListener("close", () => {
      state.trade = null;
      charts.setQuery({ trade: null });
    });
    // A click on the backdrop (outside the dialog's box) closes it, as Escape does.
    dialog.addEventListener("click", (event) => {
      const box = dialog.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) closeTrade();
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft") stepTrade("previous");
      if (event.key === "ArrowRight") stepTrade("next");
    });
    try {
      const { runs, wanted } = await charts.fillRunPicker($("run"));
      state.runs = runs;
      $("no-runs").hidden = runs.length > 0;
      if (wanted && !runs.some((r) => r.run_id === wanted)) {
        say($("page-status"), "Run " + wanted + " is not a completed run (it may still be running, have failed, or been deleted)." +
          (runs.length ? " Showing the newest completed run instead." : ""), "error");
      }
      const query = new URLSearchParams(window.location.search);
      const sameRun = wanted && runs.some((r) => r.run_id === wanted);
      if (runs.length) await selectRun(sameRun ? query.get("symbol") : null, sameRun ? query.get("trade") : null);
    } catch (err) {
      $("run").replaceChildren(el("option", { value: "", text: "Could not load runs" }));
      say($("page-status"), "Cannot load runs: " + err.message, "error");
    }
  }

  document.addEventListener("DOMContentLoaded", init);
})();
