/* Interactive charts of the analysis pages, drawn with TradingView's lightweight-charts (the
   library's standalone build, installed from npm by `make setup` and served by Django as
   /static/vendor/lightweight-charts/; its attribution logo stays on, as its licence asks).

   OST.ichart.price(host, data, options): candles of GET /api/runs/{id}/chart-data with the
     run's indicators (overlays on the price pane, panels in panes below, as their drawing
     hints say), fills as ▲ buy / ▼ sell markers and, for a trade, its entry and exit, the
     entry and exit prices as lines and a P&L band between them over the holding period.
   OST.ichart.lines(host, series, options): lines in one or more panes (equity, drawdown,
     compared runs' returns).
   Both zoom (wheel, pinch), pan (drag), show a crosshair and a legend with the values under
   it (the last values when the pointer is away). Every chart drawn is kept in
   window.ostCharts[host.id] with lastDrawnTime() and visibleRange(), for the browser tests and
   for anyone at the console. Times are UTC seconds; the library shows them as UTC. */
(function () {
  "use strict";
  const LC = window.LightweightCharts;
  const { el, num } = window.OST;
  const UP = "#1a7f37";
  const DOWN = "#cf222e";
  const INK = "#1c2330";
  const LINE = "#dde1e7";
  // The PNG charts' series colours (backtests/charts/style.py SERIES_CYCLE).
  const COLORS = ["#0969da", "#bf3989", "#9a6700", "#1b7c83", "#8250df", "#bc4c00", "#57606a", "#2da44e"];
  const PANEL_HEIGHT = 110;
  const MAX_FILL_TEXTS = 8;  // beyond this many fills, markers carry no text (the legend has it)

  const MISSING = "The chart library is not installed on the server: run `make setup` (npm ci).";

  window.ostCharts = window.ostCharts || {};

  function utcText(seconds) {
    const iso = new Date(seconds * 1000).toISOString();
    return iso.slice(0, 10) + " " + (iso.slice(17, 19) === "00" ? iso.slice(11, 16) : iso.slice(11, 19)) + " UTC";
  }

  function chartOptions(secondsVisible) {
    return {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "#ffffff" },
        textColor: INK,
        fontSize: 12,
        attributionLogo: true,
        panes: { separatorColor: LINE, enableResize: true },
      },
      grid: { vertLines: { color: "#f0f2f5" }, horzLines: { color: "#f0f2f5" } },
      crosshair: { mode: LC.CrosshairMode.Normal },
      rightPriceScale: { borderColor: LINE },
      // A bar may be far thinner than a pixel, so that a whole 50,000-bar window fits at first.
      timeScale: { borderColor: LINE, timeVisible: true, secondsVisible: secondsVisible, minBarSpacing: 0.001 },
      localization: { timeFormatter: utcText },
    };
  }

  /* Replaces whatever chart ``host`` showed; the legend sits over its top-left corner. */
  function freshHost(host, height) {
    const previous = window.ostCharts[host.id];
    if (previous) previous.remove();
    host.replaceChildren();
    host.classList.add("ichart");
    host.style.height = height + "px";
    const legend = el("div", { class: "ichart-legend", "aria-live": "off" });
    return legend;
  }

  function register(host, chart, legend, lastTime) {
    host.append(legend);
    const handle = {
      chart: chart,
      lastTime: lastTime,
      /* The time of the last bar inside the drawn range: the chart drew its last bar when
         this equals the data's last time. */
      lastDrawnTime() {
        const range = chart.timeScale().getVisibleRange();
        return range ? range.to : null;
      },
      visibleRange() {
        const range = chart.timeScale().getVisibleLogicalRange();
        return range ? { from: range.from, to: range.to } : null;
      },
      remove() {
        chart.remove();
        if (window.ostCharts[host.id] === handle) delete window.ostCharts[host.id];
      },
    };
    window.ostCharts[host.id] = handle;
    host.dataset.drawn = "true";
    return handle;
  }

  /* Index of the last time <= t in the ascending ``times`` (-1 when none). */
  function indexAtOrBefore(times, t) {
    let lo = 0, hi = times.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  function lineStyleOf(style) {
    return style === "dashed" ? LC.LineStyle.Dashed : LC.LineStyle.Solid;
  }

  function points(times, values) {
    const out = new Array(times.length);
    for (let i = 0; i < times.length; i++) {
      const v = values[i];
      out[i] = v === null || v === undefined ? { time: times[i] } : { time: times[i], value: v };
    }
    return out;
  }

  /* Legend rows: [label, colour, value text] at bar ``i`` (the last bar when i is null). */
  function legendRow(label, color, value) {
    return el("span", { class: "ichart-item" }, [
      el("span", { class: "ichart-swatch", style: "background:" + color }),
      label + " ", el("strong", { text: value }),
    ]);
  }

  /* ---------- candles, indicators, fills, a trade ---------- */

  function price(host, data, options) {
    const opts = options || {};
    const bars = data.bars;
    const n = bars.time.length;
    const panels = data.indicators.filter((ind) => ind.placement === "panel");
    const legend = freshHost(host, (opts.height || 420) + panels.length * PANEL_HEIGHT);
    const chart = LC.createChart(host, chartOptions(data.bar_period === "SECOND"));
    const candles = chart.addSeries(LC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, wickUpColor: UP, wickDownColor: DOWN, borderVisible: false,
      priceLineVisible: false,
    });
    const rows = new Array(n);
    for (let i = 0; i < n; i++) {
      rows[i] = { time: bars.time[i], open: bars.open[i], high: bars.high[i], low: bars.low[i], close: bars.close[i] };
    }
    candles.setData(rows);

    const lines = [];
    let pane = 0;
    data.indicators.forEach((ind, k) => {
      const paneIndex = ind.placement === "overlay" ? 0 : ++pane;
      const color = ind.color || COLORS[k % COLORS.length];
      const series = chart.addSeries(LC.LineSeries, {
        color: color,
        lineWidth: 2,
        lineStyle: lineStyleOf(ind.style),
        lineVisible: ind.style !== "dots",
        pointMarkersVisible: ind.style === "dots",
        pointMarkersRadius: 2,
        priceLineVisible: false,
        lastValueVisible: false,
        crosshairMarkerVisible: false,
        title: ind.placement === "panel" ? ind.name : "",
      }, paneIndex);
      series.setData(points(bars.time, ind.values));
      lines.push({ name: ind.name, color: color, values: ind.values });
    });
    chart.panes().forEach((p, i) => { if (i > 0) p.setHeight(PANEL_HEIGHT); });

    const markers = fillMarkers(data.fills, bars.time);
    const fillsAt = fillTexts(data.fills, bars.time);
    if (opts.trade) tradeExtras(chart, candles, bars, opts.trade, markers);
    markers.sort((a, b) => a.time - b.time);
    if (markers.length) LC.createSeriesMarkers(candles, markers);

    function showLegend(i) {
      if (i === null || i < 0 || i >= n) { legend.replaceChildren(); return; }
      const items = [
        el("span", { class: "ichart-time", text: utcText(bars.time[i]) }),
        el("span", { class: "ichart-item", text: "O " + num(bars.open[i]) + "  H " + num(bars.high[i]) +
          "  L " + num(bars.low[i]) + "  C " + num(bars.close[i]) }),
      ];
      for (const line of lines) {
        const v = line.values[i];
        items.push(legendRow(line.name, line.color, v === null || v === undefined ? "—" : num(v)));
      }
      for (const [text, buy] of fillsAt.get(i) || []) {
        items.push(el("span", { class: "ichart-item " + (buy ? "pos" : "neg"), text: (buy ? "▲ " : "▼ ") + text }));
      }
      legend.replaceChildren(...items);
    }
    chart.subscribeCrosshairMove((param) => {
      if (param.time === undefined) { showLegend(n - 1); return; }
      showLegend(indexAtOrBefore(bars.time, param.time));
    });
    showLegend(n - 1);
    chart.timeScale().fitContent();
    const handle = register(host, chart, legend, n ? bars.time[n - 1] : null);
    handle.candles = candles;
    handle.markers = markers;
    return handle;
  }

  function fillText(fills, i) {
    return (fills.side[i] === "BUY" ? "Buy " : "Sell ") + num(fills.qty[i], 0) + " @ " + num(fills.price[i]);
  }

  /* bar index -> [[text, isBuy]] of the fills in that bar, for the legend. */
  function fillTexts(fills, times) {
    const byBar = new Map();
    for (let i = 0; i < fills.time.length; i++) {
      const at = indexAtOrBefore(times, fills.time[i]);
      if (at < 0) continue;
      if (!byBar.has(at)) byBar.set(at, []);
      byBar.get(at).push([fillText(fills, i), fills.side[i] === "BUY"]);
    }
    return byBar;
  }

  function fillMarkers(fills, times) {
    const count = fills.time.length;
    const markers = [];
    for (let i = 0; i < count; i++) {
      const at = indexAtOrBefore(times, fills.time[i]);
      if (at < 0) continue;
      const buy = fills.side[i] === "BUY";
      markers.push({
        time: times[at],
        position: buy ? "belowBar" : "aboveBar",
        shape: buy ? "arrowUp" : "arrowDown",
        color: buy ? UP : DOWN,
        text: count <= MAX_FILL_TEXTS ? fillText(fills, i) : "",
      });
    }
    return markers;
  }

  /* A trade: {entryTime, exitTime (UTC seconds), direction, entryPrice, exitPrice, pnl}.
     Entry/exit markers, their prices as lines, and the P&L band: the closes over the holding
     period shaded against the entry price, green where the trade was ahead, red behind. */
  function tradeExtras(chart, candles, bars, trade, markers) {
    const times = bars.time;
    const first = indexAtOrBefore(times, trade.entryTime);
    const last = indexAtOrBefore(times, trade.exitTime);
    const long = trade.direction !== "SHORT";
    const won = Number(trade.pnl) >= 0;
    if (first >= 0) markers.push({ time: times[first], position: "inBar", shape: "circle", color: INK, text: "Entry" });
    if (last >= 0) markers.push({ time: times[last], position: "inBar", shape: "circle", color: won ? UP : DOWN, text: "Exit " + num(trade.pnl) });
    if (trade.entryPrice !== null && trade.entryPrice !== undefined) {
      candles.createPriceLine({ price: trade.entryPrice, color: INK, lineWidth: 1, lineStyle: LC.LineStyle.Dashed, axisLabelVisible: true, title: "entry" });
      if (first >= 0 && last >= first) {
        const band = chart.addSeries(LC.BaselineSeries, {
          baseValue: { type: "price", price: trade.entryPrice },
          topLineColor: long ? UP : DOWN, topFillColor1: long ? "rgba(26,127,55,0.28)" : "rgba(207,34,46,0.28)",
          topFillColor2: long ? "rgba(26,127,55,0.05)" : "rgba(207,34,46,0.05)",
          bottomLineColor: long ? DOWN : UP, bottomFillColor1: long ? "rgba(207,34,46,0.05)" : "rgba(26,127,55,0.05)",
          bottomFillColor2: long ? "rgba(207,34,46,0.28)" : "rgba(26,127,55,0.28)",
          lineWidth: 1, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
        }, 0);
        const span = [];
        for (let i = first; i <= last; i++) span.push({ time: times[i], value: bars.close[i] });
        band.setData(span);
      }
    }
    if (trade.exitPrice !== null && trade.exitPrice !== undefined) {
      candles.createPriceLine({ price: trade.exitPrice, color: won ? UP : DOWN, lineWidth: 1, lineStyle: LC.LineStyle.Dashed, axisLabelVisible: true, title: "exit" });
    }
  }

  /* ---------- lines ---------- */

  /* Keeps the last value of each repeated time (the library wants times strictly ascending). */
  function ascending(times, values) {
    const t = [], v = [];
    for (let i = 0; i < times.length; i++) {
      if (t.length && times[i] <= t[t.length - 1]) { if (times[i] === t[t.length - 1]) v[v.length - 1] = values[i]; continue; }
      t.push(times[i]); v.push(values[i]);
    }
    return [t, v];
  }

  /* ``series``: [{name, time, values, color?, pane? (0 = top), kind? ("line" | "baseline"),
     base? (the baseline's level)}]; options: {height, paneHeights: [px of panes 1..],
     format(value) -> text}. */
  function lines(host, series, options) {
    const opts = options || {};
    const paneHeights = opts.paneHeights || [];
    const legend = freshHost(host, (opts.height || 320) + paneHeights.reduce((a, b) => a + b, 0));
    const chart = LC.createChart(host, chartOptions(false));
    const format = opts.format || ((v) => num(v));
    const drawn = [];
    let lastTime = null;
    series.forEach((s, k) => {
      const color = s.color || COLORS[k % COLORS.length];
      const [times, values] = ascending(s.time, s.values);
      const common = { priceLineVisible: false, lastValueVisible: true, lineWidth: 2, title: "" };
      const line = s.kind === "baseline"
        ? chart.addSeries(LC.BaselineSeries, Object.assign(common, {
          baseValue: { type: "price", price: s.base || 0 },
          topLineColor: UP, topFillColor1: "rgba(26,127,55,0.20)", topFillColor2: "rgba(26,127,55,0.03)",
          bottomLineColor: DOWN, bottomFillColor1: "rgba(207,34,46,0.03)", bottomFillColor2: "rgba(207,34,46,0.20)",
        }), s.pane || 0)
        : chart.addSeries(LC.LineSeries, Object.assign(common, { color: color }), s.pane || 0);
      line.setData(points(times, values));
      drawn.push({ name: s.name, color: s.kind === "baseline" ? INK : color, times: times, values: values });
      if (times.length && (lastTime === null || times[times.length - 1] > lastTime)) lastTime = times[times.length - 1];
    });
    chart.panes().forEach((p, i) => { if (i > 0 && paneHeights[i - 1]) p.setHeight(paneHeights[i - 1]); });

    function showLegend(time) {
      const items = [];
      if (time !== null) items.push(el("span", { class: "ichart-time", text: utcText(time) }));
      for (const s of drawn) {
        const i = time === null ? s.values.length - 1 : indexAtOrBefore(s.times, time);
        const v = i >= 0 ? s.values[i] : null;
        items.push(legendRow(s.name, s.color, v === null || v === undefined ? "—" : format(v)));
      }
      legend.replaceChildren(...items);
    }
    chart.subscribeCrosshairMove((param) => showLegend(param.time === undefined ? lastTime : param.time));
    showLegend(lastTime);
    chart.timeScale().fitContent();
    const handle = register(host, chart, legend, lastTime);
    handle.seriesCount = drawn.length;
    return handle;
  }

  /* Zooms a chart in (factor < 1) or out around its middle, as the wheel does. */
  function zoom(handle, factor) {
    const ts = handle.chart.timeScale();
    const range = ts.getVisibleLogicalRange();
    if (!range) return;
    const middle = (range.from + range.to) / 2;
    const half = (range.to - range.from) / 2 * factor;
    ts.setVisibleLogicalRange({ from: middle - half, to: middle + half });
  }

  /* Bars shown around a trade, as the trade PNG shows them: twice its length, 20 to 60. */
  function tradeContext(rt) {
    return Math.min(Math.max(2 * (Number(rt.duration_bars) + 1), 20), 60);
  }

  /* The chart-data URL of a window (start/end in UTC ns, as text), or of a round trip. */
  function dataUrl(runId, query) {
    return "/api/runs/" + encodeURIComponent(runId) + "/chart-data" + window.OST.params(query);
  }

  function tradeDataUrl(runId, rt) {
    return dataUrl(runId, { symbol: rt.symbol, start_ns: rt.entry_ts, end_ns: rt.exit_ts, context: tradeContext(rt) });
  }

  /* The average price of the fills at ``seconds`` (the round trip's entry or exit), or null. */
  function priceAt(fills, seconds) {
    let qty = 0, value = 0;
    for (let i = 0; i < fills.time.length; i++) {
      if (Math.abs(fills.time[i] - seconds) < 0.001) { qty += fills.qty[i]; value += fills.qty[i] * fills.price[i]; }
    }
    return qty > 0 ? value / qty : null;
  }

  /* A round trip of the API as the trade options of price(). */
  function tradeOf(rt, fills) {
    const entry = Number(BigInt(rt.entry_ts) / 1000000n) / 1000;
    const exit = Number(BigInt(rt.exit_ts) / 1000000n) / 1000;
    return {
      entryTime: entry, exitTime: exit, direction: rt.direction, pnl: rt.pnl_after_commission,
      entryPrice: priceAt(fills, entry), exitPrice: priceAt(fills, exit),
    };
  }

  /* Fetches ``url`` (a chart-data route) and draws it in ``host``; ``status`` says "Loading…"
     and any error (the API's message). options.roundtrip: the trade to mark. Answers the
     handle, or null when a newer load for the same host won or the load failed. */
  async function loadPrice(host, url, options) {
    const opts = options || {};
    if (!LC) { if (opts.status) window.OST.say(opts.status, MISSING, "error"); return null; }
    const token = String(Number(host.dataset.token || 0) + 1);
    host.dataset.token = token;
    host.dataset.drawn = "false";
    const say = window.OST.say;
    if (opts.status) say(opts.status, "Loading chart…", "loading");
    host.classList.add("is-loading");
    let data;
    try {
      data = await window.OST.api.get(url);
    } catch (err) {
      if (host.dataset.token !== token) return null;
      host.classList.remove("is-loading");
      const previous = window.ostCharts[host.id];
      if (previous) previous.remove();
      host.replaceChildren();
      host.hidden = true;
      if (opts.status) say(opts.status, "The chart could not be drawn: " + err.message, "error");
      return null;
    }
    if (host.dataset.token !== token) return null;
    host.classList.remove("is-loading");
    host.hidden = data.count === 0;
    if (data.count === 0) {
      if (opts.status) say(opts.status, "No bars of " + data.symbol + " here.", "info");
      return null;
    }
    if (opts.status) say(opts.status, "", "info");
    const trade = opts.roundtrip ? tradeOf(opts.roundtrip, data.fills) : null;
    const handle = price(host, data, { trade: trade, height: opts.height });
    handle.data = data;
    return handle;
  }

  /* UTC ns (a number, or decimal text when beyond 2^53) as whole UTC seconds. */
  function nsToSeconds(value) {
    return Number(BigInt(value) / 1000000000n);
  }

  /* Fetches ``url`` and draws what ``draw(data)`` returns as lines() arguments; status and
     errors as loadPrice. Answers the handle or null. */
  async function loadLines(host, url, draw, options) {
    const opts = options || {};
    if (!LC) { if (opts.status) window.OST.say(opts.status, MISSING, "error"); return null; }
    const token = String(Number(host.dataset.token || 0) + 1);
    host.dataset.token = token;
    host.dataset.drawn = "false";
    const say = window.OST.say;
    if (opts.status) say(opts.status, "Loading chart…", "loading");
    host.classList.add("is-loading");
    try {
      const data = await window.OST.api.get(url);
      if (host.dataset.token !== token) return null;
      host.classList.remove("is-loading");
      const [series, lineOptions] = draw(data);
      host.hidden = false;
      if (opts.status) say(opts.status, "", "info");
      const handle = lines(host, series, lineOptions);
      handle.data = data;
      return handle;
    } catch (err) {
      if (host.dataset.token !== token) return null;
      host.classList.remove("is-loading");
      host.hidden = true;
      if (opts.status) say(opts.status, "The chart could not be drawn: " + err.message, "error");
      return null;
    }
  }

  /* The equity route's answer as lines(): equity shaded against the capital, drawdown below. */
  function equitySeries(data) {
    return [[
      { name: data.symbol ? "P&L account " + data.symbol : "Equity", kind: "baseline", base: data.capital, time: data.time, values: data.equity },
      { name: "Drawdown", pane: 1, color: DOWN, time: data.time, values: data.drawdown },
    ], { height: 300, paneHeights: [120] }];
  }

  /* The compare overlay's answer as lines(): % return per run above, drawdown % below. */
  function overlaySeries(data) {
    const series = [];
    data.runs.forEach((run, i) => {
      const time = run.ts.map(nsToSeconds);
      const color = COLORS[i % COLORS.length];
      series.push({ name: "#" + (i + 1) + " " + run.name + " %", color: color, time: time, values: run.return_pct });
    });
    data.runs.forEach((run, i) => {
      const time = run.ts.map(nsToSeconds);
      series.push({ name: "#" + (i + 1) + " drawdown %", color: COLORS[i % COLORS.length], pane: 1, time: time, values: run.drawdown_pct });
    });
    return [series, { height: 320, paneHeights: [140], format: (v) => num(v) + " %" }];
  }

  function available() { return Boolean(LC); }

  window.OST.ichart = {
    price, lines, zoom, available, utcText, loadPrice, loadLines, equitySeries, overlaySeries,
    dataUrl, tradeDataUrl, tradeOf, nsToSeconds, COLORS,
  };
})();
