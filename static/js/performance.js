/* The performance page: a completed run's metrics, charts and round trips, per symbol.
   The run, symbol and open trade are in the URL (?run=&symbol=&trade=); a clicked trade opens
   its chart in a dialog over the page (Previous / Next go through the table's order). Trade
   numbers are the run's (charts.runRoundtrips), the same whichever symbol is shown. */
(function () {
  "use strict";
  const { api, el, say, num, signClass, params } = window.OST;
  const charts = window.OST.charts;
  const $ = (id) => document.getElementById(id);

  const state = { runs: [], runId: "", table: null, token: 0, trade: null };

  // Known metrics, in display order: [key, label, format]. Others are appended as numbers.
  const METRICS = [
    ["net_pnl", "Net P&L", "money"],
    ["gross_pnl", "Gross P&L", "money"],
    ["commission", "Commission", "money"],
    ["trades", "Trades", "int"],
    ["wins", "Wins", "int"],
    ["losses", "Losses", "int"],
    ["win_rate", "Win rate", "pct"],
    ["profit_factor", "Profit factor", "ratio"],
    ["expectancy", "Expectancy", "money"],
    ["avg_win", "Average win", "money"],
    ["avg_loss", "Average loss", "money"],
    ["largest_win", "Largest win", "money"],
    ["largest_loss", "Largest loss", "money"],
    ["max_drawdown", "Max drawdown", "money"],
    ["sharpe", "Sharpe (daily)", "ratio"],
    ["avg_duration_bars", "Avg. duration (bars)", "dec1"],
    ["avg_duration_seconds", "Avg. duration", "seconds"],
  ];
  const SKIP = new Set(["per_symbol", "symbol", "run_id"]);
  // Sizes of losses or costs, reported as positive numbers: not coloured as gains.
  const NEUTRAL = new Set(["commission", "max_drawdown"]);

  function formatMetric(value, kind) {
    if (value === null || value === undefined) return "—";
    if (kind === "int") return num(value, 0);
    if (kind === "pct") return num(Number(value) * 100, 1) + " %";  // the API sends a ratio
    if (kind === "seconds") return window.OST.duration(0, Number(value) * 1e9);
    if (kind === "dec1") return num(value, 1);
    return num(value, 2);
  }

  function label(key) {
    const text = key.replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function renderMetrics(metrics) {
    const box = $("metrics");
    box.replaceChildren();
    const shown = new Set();
    const card = (key, title, kind) => {
      const value = metrics[key];
      shown.add(key);
      const colored = kind === "money" && !NEUTRAL.has(key);
      // A null profit factor with trades means there was no losing trade (metrics.py).
      const noLoss = key === "profit_factor" && value === null && Number(metrics.wins) > 0;
      box.append(el("div", { class: "metric", dataset: { metric: key } }, [
        el("div", { class: "metric-label", text: title }),
        el("div", { class: "metric-value " + (colored ? signClass(value) : ""), text: noLoss ? "∞ (no loss)" : formatMetric(value, kind) }),
      ]));
    };
    for (const [key, title, kind] of METRICS) if (key in metrics) card(key, title, kind);
    for (const [key, value] of Object.entries(metrics)) {
      if (shown.has(key) || SKIP.has(key) || typeof value !== "number") continue;
      card(key, label(key), Number.isInteger(value) ? "int" : "ratio");
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
        el("td", { class: "num", text: noLoss ? "∞" : formatMetric(m.profit_factor, "ratio") }),
        el("td", { class: "num " + signClass(m.expectancy), text: formatMetric(m.expectancy, "money") }),
        el("td", { class: "num", text: formatMetric(m.max_drawdown, "money") }),
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
    charts.loadImage($("equity"), runUrl("equity.png", symbol), charts.statusFor($("equity")), $("equity-link"));
    const [metrics, trips] = await Promise.allSettled([api.get(runUrl("metrics", symbol)), charts.runRoundtrips(state.runId)]);
    if (token !== state.token) return;
    if (metrics.status === "fulfilled") {
      renderMetrics(metrics.value);
      renderPerSymbol(metrics.value.per_symbol);
    }
    else $("metrics").replaceChildren(el("p", { class: "status status-error", text: "Cannot load metrics: " + metrics.reason.message }));
    if (trips.status === "fulfilled") {
      const list = symbol ? trips.value.filter((rt) => rt.symbol === symbol) : trips.value;
      state.table.set(list);
      $("trade-count").textContent = "(" + list.length + ")";
    } else {
      state.table.message("Cannot load round trips: " + trips.reason.message);
    }
  }

  function showTrade(rt) {
    state.trade = rt;
    charts.setQuery({ trade: rt.n });
    $("trade-heading").textContent = "Trade " + rt.n + " · " + rt.symbol + " · " + rt.direction +
      " · net " + num(rt.pnl_after_commission);
    const img = $("trade-chart");
    img.alt = "Chart of trade " + rt.n + ": " + rt.symbol + " " + rt.direction;
    charts.loadImage(img, charts.tradeChartUrl(state.runId, rt), $("trade-status"), $("trade-chart-link"));
    $("trade-browse").href = "/chart" + params({ run: state.runId, symbol: rt.symbol, trade: rt.n });
    const { previous, next } = state.table.neighbours(rt);
    $("trade-previous").disabled = !previous;
    $("trade-next").disabled = !next;
    state.table.mark(rt);
    const dialog = $("trade-dialog");
    if (!dialog.open) dialog.showModal();
  }

  function closeTrade() {
    const dialog = $("trade-dialog");
    if (dialog.open) dialog.close();
  }

  function stepTrade(which) {
    if (!state.trade) return;
    const other = state.table.neighbours(state.trade)[which];
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
      const trade = state.table.rows.find((rt) => String(rt.n) === String(wantedTrade));
      if (trade) showTrade(trade);
      else say($("page-status"), "Trade " + wantedTrade + " is not among the trades shown.", "error");
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
