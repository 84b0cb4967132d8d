/* The chart page: browse a run's bars, indicators and fills window by window (an interactive
   chart, static/js/ichart.js; its PNG one link away), or jump to a
   trade. A window is N real bars (the server's /bar-window finds them, stepping over nights
   and weekends); First / Previous / Next / Last follow the window shown, or the trade shown
   (Previous: the bars before its entry; Next: the bars after its exit). The run, symbol and
   trade are in the URL (?run=&symbol=&trade=), so a reload or a shared link shows the same.
   Timestamps are UTC nanoseconds kept as decimal text / BigInt (they exceed 2^53). */
(function () {
  "use strict";
  const { api, say, num, params, nsToDateTime } = window.OST;
  const charts = window.OST.charts;
  const ichart = window.OST.ichart;
  const $ = (id) => document.getElementById(id);

  const state = { runs: [], run: null, window: null, trade: null, table: null, token: 0 };

  const big = (v) => (v === null || v === undefined || v === "" ? null : BigInt(v));

  function toInput(ns) {
    return new Date(window.OST.nsToMs(ns)).toISOString().slice(0, 19);
  }

  function fromInput(text) {
    if (!text) return null;
    const ms = Date.parse((text.length === 16 ? text + ":00" : text) + "Z");
    return Number.isNaN(ms) ? null : (BigInt(ms) * 1000000n).toString();
  }

  function symbol() { return $("symbol").value; }

  function setButtons(before, after) {
    $("first").disabled = $("prev").disabled = !before;
    $("next").disabled = $("last").disabled = !after;
  }

  /* Asks the server for the window of N bars at ``anchor`` ({start_ns} | {end_ns} |
     {position}) and shows it. */
  async function locate(anchor) {
    const token = ++state.token;
    const url = "/api/runs/" + encodeURIComponent(state.run.run_id) + "/bar-window" +
      params(Object.assign({ symbol: symbol(), bars: $("window-bars").value }, anchor));
    let found;
    try {
      found = await api.get(url);
    } catch (err) {
      if (token === state.token) say($("chart-status"), "Cannot find the bars: " + err.message, "error");
      return;
    }
    if (token !== state.token) return;  // the user moved on meanwhile
    state.window = found;
    state.trade = null;
    charts.setQuery({ trade: null });
    showHint(found);
    showWindow();
  }

  function showHint(found) {
    $("window-hint").textContent = found.data_start_ns !== null
      ? "Data of " + found.symbol + ": " + nsToDateTime(found.data_start_ns) + " → " +
        nsToDateTime(found.data_end_ns) + " UTC."
      : "";
  }

  function showWindow() {
    const w = state.window;
    const heading = $("chart-heading");
    $("roundtrips").querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
    if (!w || w.bars === 0) {
      heading.textContent = symbol() + " · no bars";
      $("chart-caption").textContent = "";
      $("chart").hidden = true;
      $("chart").dataset.token = String(Number($("chart").dataset.token || 0) + 1);
      say($("chart-status"), "No bars of " + symbol() + " in this run" + (w && w.data_start_ns !== null ? " here." : "."), "info");
      setButtons(w && w.previous_end_ns !== null, w && w.next_start_ns !== null);
      return;
    }
    $("window-start").value = toInput(w.start_ns);
    heading.textContent = w.symbol + " · " + num(w.bars, 0) + " bars";
    $("chart-caption").textContent = nsToDateTime(w.start_ns) + " → " + nsToDateTime(w.end_ns) +
      " UTC. Fills inside the window are marked: ▲ buy, ▼ sell.";
    const host = $("chart");
    host.setAttribute("aria-label", "Bars of " + w.symbol + " from " + nsToDateTime(w.start_ns) + " to " + nsToDateTime(w.end_ns) + " UTC");
    const query = { symbol: w.symbol, start_ns: w.start_ns, end_ns: w.end_ns };
    $("chart-link").href = "/api/runs/" + encodeURIComponent(state.run.run_id) + "/window.png" + params(query);
    ichart.loadPrice(host, ichart.dataUrl(state.run.run_id, query), { status: $("chart-status") })
      .then((handle) => { if (handle) window.ostChart = handle; });
    setButtons(w.previous_end_ns !== null, w.next_start_ns !== null);
  }

  function showTrade(rt) {
    state.token++;  // a window still on its way must not replace the trade
    state.trade = rt;
    charts.setQuery({ trade: rt.n });
    $("chart-heading").textContent = "Trade " + rt.n + " · " + rt.symbol + " · " + rt.direction + " · net " + num(rt.pnl_after_commission);
    $("chart-caption").textContent = nsToDateTime(rt.entry_ts, true) + " → " + nsToDateTime(rt.exit_ts, true) +
      " UTC. Previous shows the bars before this trade, Next the bars after it.";
    const host = $("chart");
    host.setAttribute("aria-label", "Chart of trade " + rt.n + ": " + rt.symbol + " " + rt.direction);
    $("chart-link").href = charts.tradeChartUrl(state.run.run_id, rt);
    ichart.loadPrice(host, ichart.tradeDataUrl(state.run.run_id, rt), { status: $("chart-status"), roundtrip: rt })
      .then((handle) => { if (handle) window.ostChart = handle; });
    $("window-start").value = toInput(rt.entry_ts);
    const w = state.window || {};
    const first = big(w.data_start_ns), last = big(w.data_end_ns);
    setButtons(first === null || big(rt.entry_ts) > first, last === null || big(rt.exit_ts) < last);
    $("chart").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  function move(direction) {
    if (!state.run) return;
    if (direction === "first" || direction === "last") return locate({ position: direction });
    const rt = state.trade, w = state.window;
    if (rt) {
      if (direction === "prev") return locate({ end_ns: (big(rt.entry_ts) - 1n).toString() });
      return locate({ start_ns: (big(rt.exit_ts) + 1n).toString() });
    }
    if (!w) return;
    if (direction === "prev" && w.previous_end_ns !== null) return locate({ end_ns: w.previous_end_ns });
    if (direction === "next" && w.next_start_ns !== null) return locate({ start_ns: w.next_start_ns });
  }

  async function selectSymbol(wantedTrade) {
    if (!symbol()) return;
    charts.setQuery({ symbol: symbol(), trade: null });
    const runId = state.run.run_id;
    const equityUrl = "/api/runs/" + encodeURIComponent(runId) + "/equity.png" + params({ symbol: symbol() });
    charts.loadImage($("equity"), equityUrl, charts.statusFor($("equity")), $("equity-link"));
    const chosen = symbol();
    try {
      await state.table.setSource((query) => charts.roundtripPage(runId, Object.assign({ symbol: chosen }, query)));
      $("trade-count").textContent = "(" + num(state.table.count, 0) + ")";
    } catch (err) {
      state.table.message("Cannot load trades: " + err.message);
    }
    await locate({ position: "first" });
    const found = wantedTrade ? await charts.roundtripByNumber(runId, wantedTrade).catch(() => null) : null;
    const trade = found && found.symbol === chosen ? found : null;
    if (trade) {
      showTrade(trade);
      state.table.mark(trade);
    } else if (wantedTrade) {
      say($("page-status"), "Trade " + wantedTrade + " is not a trade of " + symbol() + " in this run.", "error");
    }
  }

  async function selectRun(wantedSymbol, wantedTrade) {
    const runId = $("run").value;
    charts.setQuery({ run: runId, symbol: null, trade: null });
    state.run = state.runs.find((r) => r.run_id === runId) || null;
    state.window = null;
    state.trade = null;
    $("browser").hidden = !state.run;
    if (!state.run) return;
    state.table.message("Loading trades…");
    try {
      const data = await charts.fillSymbolPicker($("symbol"), runId, "");
      const symbols = data.symbols || [];
      const traded = data.traded || [];
      if (wantedSymbol && symbols.includes(wantedSymbol)) $("symbol").value = wantedSymbol;
      else if (traded.length) $("symbol").value = traded[0];
      if (wantedSymbol && !symbols.includes(wantedSymbol)) {
        say($("page-status"), "Symbol " + wantedSymbol + " is not part of this run.", "error");
      }
      await selectSymbol(wantedTrade);
    } catch (err) {
      state.table.message("Cannot load trades: " + err.message);
      say($("page-status"), "Cannot load the run's symbols and trades: " + err.message, "error");
    }
  }

  async function init() {
    state.table = new charts.RoundtripTable($("roundtrips"), showTrade);
    $("run").addEventListener("change", () => { say($("page-status"), ""); selectRun(); });
    $("symbol").addEventListener("change", () => { say($("page-status"), ""); selectSymbol(); });
    $("window-bars").addEventListener("change", () => {
      if (state.trade) return;  // the trade stays; the next window uses the new size
      if (state.window && state.window.start_ns !== null) locate({ start_ns: state.window.start_ns });
    });
    $("show").addEventListener("click", () => {
      const ns = fromInput($("window-start").value);
      if (ns === null) { say($("chart-status"), "Enter a valid window start (UTC).", "error"); return; }
      locate({ start_ns: ns });
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
      const query = new URLSearchParams(window.location.search);
      const sameRun = wanted && runs.some((r) => r.run_id === wanted);
      if (runs.length) await selectRun(sameRun ? query.get("symbol") : null, sameRun ? query.get("trade") : null);
    } catch (err) {
      say($("page-status"), "Cannot load runs: " + err.message, "error");
    }
  }

  document.addEventListener("DOMContentLoaded", init);
})();
