/* The performance page's "Sensitivity to costs" card: start a run's sensitivity report, follow
   it while a worker computes its nine backtests, show its chart (API: /api/runs/{id}/sensitivity). */
(function () {
  "use strict";
  const { api, say, ApiError, el, num, signClass } = window.OST;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1500;
  let runId = "";
  let timer = null;
  let token = 0;

  function url(path) {
    return "/api/runs/" + encodeURIComponent(runId) + "/" + path;
  }

  function showChart(report) {
    const img = $("sensitivity-chart");
    const src = url("sensitivity.png") + "?v=" + (report.updated_ns || report.requested_ns);
    img.src = src;
    $("sensitivity-link").href = src;
    $("sensitivity-link").hidden = false;
  }

  /* The cells as a table too: readable on a phone, and by screen readers. */
  function showTable(report) {
    const ticks = report.slippage_ticks || [];
    const caps = report.participation_caps || [];
    const cells = new Map((report.cells || []).map((c) => [c.participation_cap + "/" + c.slippage_ticks, c]));
    const head = $("sensitivity-table").querySelector("thead tr");
    head.replaceChildren(el("th", { scope: "col", text: "Volume cap" }),
      ...ticks.map((t) => el("th", { scope: "col", class: "num", text: t + " tick" + (t === 1 ? "" : "s") })));
    $("sensitivity-table").querySelector("tbody").replaceChildren(...caps.map((cap) => el("tr", {}, [
      el("th", { scope: "row", text: +(cap * 100).toFixed(4) + " %" }),
      ...ticks.map((t) => {
        const cell = cells.get(cap + "/" + t);
        if (!cell) return el("td", { class: "num muted", text: "…" });
        const sharpe = cell.sharpe === null || cell.sharpe === undefined ? "—" : num(cell.sharpe, 2);
        return el("td", { class: "num " + signClass(cell.net_pnl), text: num(cell.net_pnl, 2) + " / " + sharpe });
      }),
    ])));
    $("sensitivity-table-wrap").hidden = !(report.cells || []).length;
  }

  function show(report) {
    showTable(report);
    const button = $("sensitivity-run");
    const status = $("sensitivity-status");
    const done = (report.cells || []).length;
    if (report.status === "queued" || report.status === "running") {
      button.disabled = true;
      say(status, (report.status === "queued" ? "Waiting for a worker…" : "Computing…") + " " + done + " of 9 backtests done.", "loading");
      if (done) showChart(report);
      schedule();
    } else if (report.status === "completed") {
      button.disabled = false;
      button.textContent = "Run again";
      say(status, "");
      showChart(report);
    } else {
      button.disabled = false;
      button.textContent = "Run sensitivity report";
      say(status, "The report failed: " + (report.error || "unknown error"), "error");
      $("sensitivity-link").hidden = !done;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(load, POLL_MS);
  }

  async function load() {
    const mine = ++token;
    clearTimeout(timer);
    if (!runId) return;
    try {
      const report = await api.get(url("sensitivity"));
      if (mine === token) show(report);
    } catch (err) {
      if (mine !== token) return;
      const button = $("sensitivity-run");
      button.disabled = false;
      button.textContent = "Run sensitivity report";
      $("sensitivity-link").hidden = true;
      $("sensitivity-table-wrap").hidden = true;
      if (err instanceof ApiError && err.status === 404) say($("sensitivity-status"), "No report yet.", "info");
      else say($("sensitivity-status"), "Cannot load the report: " + err.message, "error");
    }
  }

  async function start() {
    const button = $("sensitivity-run");
    button.disabled = true;
    try {
      show(await api.post(url("sensitivity"), {}));
    } catch (err) {
      button.disabled = false;
      say($("sensitivity-status"), err.message, "error");
    }
  }

  function runChanged() {
    const wanted = $("run").value;
    if (wanted === runId) return;
    runId = wanted;
    $("sensitivity-link").hidden = true;
    $("sensitivity-table-wrap").hidden = true;
    load();
  }

  function init() {
    if (!$("sensitivity-card")) return;
    $("sensitivity-run").addEventListener("click", start);
    // performance.js sets the run and then its summary line: follow the summary.
    new MutationObserver(runChanged).observe($("run-summary"), { childList: true, characterData: true, subtree: true });
    $("run").addEventListener("change", runChanged);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
