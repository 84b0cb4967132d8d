/* The chart page: browse a run's bars, indicators and fills window by window, or jump to a
   trade. Timestamps are UTC nanoseconds handled as BigInt (they exceed 2^53). */
(function () {
  "use strict";
  const { api, say, num, params, nsToDateTime } = window.OST;
  const charts = window.OST.charts;
  const $ = (id) => document.getElementById(id);

  const PERIOD_NS = { SECOND: 1000000000n, MINUTE: 60000000000n, HOUR: 3600000000000n, DAY: 86400000000000n };
  const DAY_NS = PERIOD_NS.DAY;

  const state = { runs: [], run: null, lo: null, hi: null, start: null, table: null, roundtrips: [] };

  const big = (v) => (v === null || v === undefined || v === "" ? null : typeof v === "bigint" ? v : BigInt(v));

  function periodNs() {
    const config = (state.run && state.run.config) || {};
    return PERIOD_NS[config.bar_period] || PERIOD_NS[({ 32: "SECOND", 33: "MINUTE", 34: "HOUR", 35: "DAY" })[config.rtype]] || PERIOD_NS.MINUTE;
  }

  function spanNs() { return BigInt($("window-bars").value) * periodNs(); }

  function dateNs(text) { return text ? BigInt(Date.parse(text + "T00:00:00Z")) * 1000000n : null; }

  function toInput(ns) {
    return new Date(Number(ns / 1000000n)).toISOString().slice(0, 19);
  }

  function fromInput(text) {
    if (!text) return null;
    const ms = Date.parse((text.length === 16 ? text + ":00" : text) + "Z");
    return Number.isNaN(ms) ? null : BigInt(ms) * 1000000n;
  }

  function clampStart(ns) {
    let s = ns;
    if (state.hi !== null && s > state.hi - spanNs()) s = state.hi - spanNs() + 1n;
    if (state.lo !== null && s < state.lo) s = state.lo;
    return s;
  }

  /* Data range of the symbol: its coverage, narrowed to the run's dates. */
  async function loadBounds(symbol) {
    const config = state.run.config || {};
    let lo = dateNs(config.start_date);
    let hi = config.end_date ? dateNs(config.end_date) + DAY_NS - 1n : null;
    try {
      const data = await api.get("/api/secmaster/symbols_coverage" + params({ publisher_id: config.publisher_id, rtype: config.rtype }));
      const row = (data.symbols || []).find((r) => r.symbol === symbol);
      if (row) {
        const min = big(row.min_ts), max = big(row.max_ts);
        lo = lo === null || min > lo ? min : lo;
        hi = hi === null || max < hi ? max : hi;
      }
    } catch (err) {
      say($("page-status"), "Cannot read the symbol's data range: " + err.message, "error");
    }
    if (lo === null && state.roundtrips.length) lo = big(state.roundtrips[0].entry_ts);
    state.lo = lo;
    state.hi = hi;
    $("window-hint").textContent = lo !== null && hi !== null
      ? "Data of " + symbol + ": " + nsToDateTime(lo.toString()) + " → " + nsToDateTime(hi.toString()) + " UTC."
      : "";
  }

  function showWindow() {
    if (state.start === null) { say($("chart-status"), "Pick a window start.", "error"); return; }
    state.start = clampStart(state.start);
    const end = state.start + spanNs() - 1n;
    $("window-start").value = toInput(state.start);
    const symbol = $("symbol").value;
    $("chart-heading").textContent = symbol + " · " + $("window-bars").value + " bars";
    $("chart-caption").textContent = nsToDateTime(state.start.toString()) + " → " + nsToDateTime(end.toString()) +
      " UTC. Fills inside the window are marked: ▲ buy, ▼ sell.";
    const img = $("chart");
    img.alt = "Bars of " + symbol + " from " + nsToDateTime(state.start.toString()) + " to " + nsToDateTime(end.toString()) + " UTC";
    const url = "/api/runs/" + encodeURIComponent(state.run.run_id) + "/window.png" +
      params({ symbol: symbol, start_ns: state.start.toString(), end_ns: end.toString() });
    charts.loadImage(img, url, $("chart-status"), $("chart-link"));
    $("prev").disabled = state.lo !== null && state.start <= state.lo;
    $("first").disabled = $("prev").disabled;
    $("next").disabled = state.hi !== null && end >= state.hi;
    $("last").disabled = $("next").disabled;
  }

  function showTrade(rt) {
    const symbol = rt.symbol;
    $("chart-heading").textContent = "Trade " + rt.n + " · " + symbol + " · " + rt.direction + " · net " + num(rt.pnl_after_commission);
    $("chart-caption").textContent = nsToDateTime(rt.entry_ts, true) + " → " + nsToDateTime(rt.exit_ts, true) +
      " UTC. Previous / Next continue browsing from this trade.";
    const img = $("chart");
    img.alt = "Chart of trade " + rt.n + ": " + symbol + " " + rt.direction;
    charts.loadImage(img, charts.tradeChartUrl(state.run.run_id, rt), $("chart-status"), $("chart-link"));
    state.start = big(rt.entry_ts);
    $("window-start").value = toInput(state.start);
    $("chart").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  async function selectSymbol() {
    const symbol = $("symbol").value;
    if (!symbol) return;
    const runId = state.run.run_id;
    state.table.message("Loading trades…");
    const equityUrl = "/api/runs/" + encodeURIComponent(runId) + "/equity.png" + params({ symbol: symbol });
    charts.loadImage($("equity"), equityUrl, charts.statusFor($("equity")), $("equity-link"));
    try {
      const data = await api.get("/api/runs/" + encodeURIComponent(runId) + "/roundtrips" + params({ symbol: symbol }));
      state.roundtrips = data.roundtrips || [];
      state.table.set(state.roundtrips);
      $("trade-count").textContent = "(" + state.roundtrips.length + ")";
    } catch (err) {
      state.roundtrips = [];
      state.table.message("Cannot load trades: " + err.message);
    }
    await loadBounds(symbol);
    state.start = state.lo;
    if (state.start === null) {
      say($("chart-status"), "No data range is known for " + symbol + ": enter a window start.", "error");
      return;
    }
    showWindow();
  }

  async function selectRun() {
    const runId = $("run").value;
    charts.rememberRun(runId);
    state.run = state.runs.find((r) => r.run_id === runId) || null;
    $("browser").hidden = !state.run;
    if (!state.run) return;
    try {
      const data = await charts.fillSymbolPicker($("symbol"), runId, "");
      const traded = data.traded || [];
      if (traded.length) $("symbol").value = traded[0];
      await selectSymbol();
    } catch (err) {
      say($("page-status"), "Cannot load the run's symbols: " + err.message, "error");
    }
  }

  function move(direction) {
    if (state.start === null) return;
    if (direction === "first") state.start = state.lo;
    else if (direction === "last") state.start = state.hi;
    else state.start += direction === "next" ? spanNs() : -spanNs();
    showWindow();
  }

  async function init() {
    state.table = new charts.RoundtripTable($("roundtrips"), showTrade);
    $("run").addEventListener("change", () => { say($("page-status"), ""); selectRun(); });
    $("symbol").addEventListener("change", selectSymbol);
    $("window-bars").addEventListener("change", showWindow);
    $("show").addEventListener("click", () => {
      const ns = fromInput($("window-start").value);
      if (ns === null) { say($("chart-status"), "Enter a valid window start (UTC).", "error"); return; }
      state.start = ns;
      showWindow();
    });
    for (const id of ["first", "prev", "next", "last"]) $(id).addEventListener("click", () => move(id));
    try {
      const { runs, wanted } = await charts.fillRunPicker($("run"));
      state.runs = runs;
      $("no-runs").hidden = runs.length > 0;
      if (wanted && !runs.some((r) => r.run_id === wanted)) {
        say($("page-status"), "Run " + wanted + " is not a completed run." +
          (runs.length ? " Showing the newest completed run instead." : ""), "error");
      }
      if (runs.length) await selectRun();
    } catch (err) {
      say($("page-status"), "Cannot load runs: " + err.message, "error");
    }
  }

  document.addEventListener("DOMContentLoaded", init);
})();
