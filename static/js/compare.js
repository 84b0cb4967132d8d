/* The comparison page: reads ?run_ids=, asks GET /api/runs/compare and draws the runs, the
   overlay (an interactive chart of /api/runs/compare/overlay, static/js/ichart.js; the PNG a
   link away), the metrics (best per row marked), per-symbol net P&L and the config with its
   differences highlighted. */
(function () {
  "use strict";
  const { api, el, say, num, signClass, nsToDateTime } = window.OST;
  const $ = (id) => document.getElementById(id);
  // The PNG's line colours (backtests/charts/style.py SERIES_CYCLE), so the tables match it.
  const COLORS = ["#0969da", "#bf3989", "#9a6700", "#1b7c83", "#8250df", "#bc4c00", "#57606a", "#2da44e"];

  function formatValue(value, unit) {
    if (value === null || value === undefined) return "—";
    switch (unit) {
      case "money": return num(value, 2);
      case "pct": return num(value, 2) + " %";
      case "fraction": return num(Number(value) * 100, 2) + " %";
      case "count": return num(value, 0);
      case "seconds": return num(value, 1) + " s";
      case "days": return num(value, 2);
      default: return num(value, 4);
    }
  }

  function configText(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function runHeads(runs) {
    return el("tr", {}, [el("th", { scope: "col", text: "" })].concat(runs.map((run, i) =>
      el("th", { scope: "col", class: "num run-head", title: run.name + " (" + run.run_id + ")" }, [
        el("span", { class: "swatch", style: "background:" + COLORS[i % COLORS.length] }),
        "#" + (i + 1) + " " + run.run_id,
      ]))));
  }

  function valueCell(text, best, extraClass) {
    return el("td", { class: "num " + (extraClass || "") + (best ? " best" : "") }, [
      text,
      best ? el("span", { class: "best-mark", text: "★", title: "best of the row" }) : null,
      best ? el("span", { class: "visually-hidden", text: " (best)" }) : null,
    ]);
  }

  function drawRuns(runs) {
    const body = $("compare-runs").tBodies[0];
    body.replaceChildren(...runs.map((run, i) => {
      const id = encodeURIComponent(run.run_id);
      return el("tr", { dataset: { runId: run.run_id } }, [
        el("td", {}, [el("span", { class: "swatch", style: "background:" + COLORS[i % COLORS.length] }), "#" + (i + 1)]),
        el("td", {}, [el("div", { class: "run-name", text: run.name }),
          el("div", { class: "muted small", text: run.run_id + " · " + run.status + " · " + nsToDateTime(run.ts_start) })]),
        el("td", { text: run.strategy || "—" }),
        el("td", { text: run.symbols.join(", "), title: run.symbols.join(", ") }),
        el("td", { class: "num", text: num(run.capital, 2) }),
        el("td", { class: "links" }, [el("a", { href: "/performance?run=" + id, text: "Performance" })]),
      ]);
    }));
  }

  function drawMetrics(data) {
    const table = $("compare-metrics");
    table.tHead.replaceChildren(runHeads(data.runs));
    table.tBodies[0].replaceChildren(...data.metrics.map((row) => el("tr", { dataset: { key: row.key } }, [
      el("th", { scope: "row", text: row.label, title: row.key + (row.better ? " (" + row.better + " is better)" : "") }),
    ].concat(row.values.map((value, i) => valueCell(formatValue(value, row.unit), row.best.includes(i)))))));
  }

  function drawSymbols(data) {
    const table = $("compare-symbols");
    table.tHead.replaceChildren(runHeads(data.runs));
    const rows = data.per_symbol.map((row) => el("tr", { dataset: { symbol: row.symbol } }, [
      el("th", { scope: "row", text: row.symbol }),
    ].concat(row.net_pnl.map((value, i) => value === null
      ? el("td", { class: "num muted", text: "not in run" })
      : valueCell(num(value, 2), row.best.includes(i), signClass(value))))));
    table.tBodies[0].replaceChildren(...rows);
  }

  function drawConfig(data) {
    const table = $("compare-config");
    table.tHead.replaceChildren(runHeads(data.runs));
    table.tBodies[0].replaceChildren(...data.config.map((row) => el("tr", { class: row.differs ? "differs" : "", dataset: { key: row.key } }, [
      el("th", { scope: "row", text: row.key }),
    ].concat(row.values.map((value) => el("td", { class: "config-value", text: configText(value), title: configText(value) }))))));
    const differing = data.config.filter((row) => row.differs).length;
    $("config-summary").textContent = differing
      ? differing + " of " + data.config.length + " settings differ (highlighted)."
      : "All " + data.config.length + " settings are the same.";
    applyFilter();
  }

  function applyFilter() {
    const only = $("only-differences").checked;
    for (const row of $("compare-config").tBodies[0].rows) row.hidden = only && !row.classList.contains("differs");
  }

  async function load(runIds) {
    const status = $("compare-status");
    say(status, "Loading the comparison…", "loading");
    const query = "?run_ids=" + encodeURIComponent(runIds);
    try {
      const data = await api.get("/api/runs/compare" + query);
      drawRuns(data.runs);
      drawMetrics(data);
      drawSymbols(data);
      drawConfig(data);
      $("compare-chart-link").href = "/api/runs/compare.png" + query;
      $("comparison").hidden = false;
      window.OST.ichart.loadLines($("compare-chart"), "/api/runs/compare/overlay" + query + "&points=2000",
        window.OST.ichart.overlaySeries, { status: $("compare-chart-status") });
      say(status, "");
    } catch (err) {
      $("comparison").hidden = true;
      say(status, err.message, "error");
    }
  }

  function start() {
    $("only-differences").addEventListener("change", applyFilter);
    const runIds = new URLSearchParams(window.location.search).get("run_ids");
    if (runIds && runIds.trim()) load(runIds.trim());
    else say($("compare-status"), "Name two or more runs to compare.", "info");
  }

  start();
})();
