/* The backtest page's "Running" panel (live progress, Cancel) and "History" table (sortable,
   links to the analysis pages, a failed run's traceback, multi-select delete). Everything
   comes from the API, so a reload shows the same state.

   Polling: /api/backtest/running is asked once a second only while runs are queued or
   running; otherwise only when the user acts (submits a run, comes back to the tab or the
   window, presses Refresh). Exposes OST.runsPanel {start, poll, loadHistory, watch}. */
(function () {
  "use strict";
  const { api, el, say, num, signClass, nsToDateTime, duration, RTYPE_PERIOD } = window.OST;
  const $ = (id) => document.getElementById(id);

  const POLL_MS = 1000;
  const RECHECK_MS = 2000;      // a focus within this time of the last poll does not poll again
  const known = new Map();      // run_id -> last seen running row
  const chosen = new Set();     // run ids ticked in the history
  let timer = null;
  let polling = false;
  let again = false;            // asked to poll while a poll was on its way
  let lastPoll = 0;
  let historyRuns = [];
  const sort = { key: "started", ascending: false };

  /* ---------- running ---------- */

  function progressOf(run) {
    const p = Number(run.progress);
    return Number.isFinite(p) ? Math.max(0, Math.min(100, p)) : 0;
  }

  const NOT_YOURS_CANCEL = "Not your run: cancelling it needs the permission backtests.cancel_run";
  const NOT_YOURS_DELETE = "Not your run: deleting it needs the permission backtests.delete_run";

  /* The Cancel button: off while the run is already cancelling, or when it is not the user's
     to cancel (the API says so per run). */
  function setCancel(button, run) {
    const cancelling = run.status === "cancelling";
    button.disabled = cancelling || run.can_cancel === false;
    button.textContent = cancelling ? "Cancelling…" : "Cancel";
    button.title = run.can_cancel === false ? NOT_YOURS_CANCEL : "";
  }

  function jobNode(run) {
    const pct = progressOf(run);
    const bar = el("progress", { max: "100", value: String(pct), "aria-label": "Progress of run " + run.run_id });
    const cancel = el("button", { type: "button", class: "danger small-button", text: "Cancel", "aria-label": "Cancel run " + run.run_id });
    cancel.addEventListener("click", () => cancelRun(run.run_id, cancel));
    setCancel(cancel, run);
    const config = run.config || {};
    return el("div", { class: "job", dataset: { runId: run.run_id } }, [
      el("div", { class: "job-head" }, [
        el("strong", { class: "run-name", text: run.name || config.strategy || run.run_id }),
        el("span", { class: "muted small", text: run.run_id + (run.owner ? " · " + run.owner : "") + " · " + (config.symbols || []).join(", ") }),
        el("span", { class: "badge badge-" + run.status, text: run.status }),
      ]),
      el("div", { class: "job-progress" }, [bar, el("span", { class: "pct", text: pct.toFixed(0) + " %" }), cancel]),
    ]);
  }

  function updateJob(node, run) {
    const pct = progressOf(run);
    node.querySelector("progress").value = pct;
    node.querySelector(".pct").textContent = pct.toFixed(0) + " %";
    const badge = node.querySelector(".badge");
    badge.textContent = run.status;
    badge.className = "badge badge-" + run.status;
    setCancel(node.querySelector("button"), run);
  }

  function renderRunning(runs) {
    const box = $("running");
    box.querySelectorAll(".job").forEach((node) => {
      if (!runs.some((r) => r.run_id === node.dataset.runId)) node.remove();
    });
    const empty = box.querySelector(".empty");
    if (runs.length === 0) {
      if (!empty) box.prepend(el("p", { class: "muted empty", text: "No backtest is running." }));
    } else if (empty) {
      empty.remove();
    }
    for (const run of runs) {
      const node = box.querySelector('.job[data-run-id="' + CSS.escape(run.run_id) + '"]');
      if (node) updateJob(node, run); else box.append(jobNode(run));
    }
    const placeholder = box.querySelector("p.muted:not(.empty)");
    if (placeholder) placeholder.remove();
  }

  async function finished(runId) {
    let message = "Run " + runId + " finished.";
    let kind = "ok";
    try {
      const data = await api.get("/api/backtest/status/" + encodeURIComponent(runId));
      message = "Run " + runId + " " + data.status + (data.error ? ": " + data.error : ".");
      kind = data.status === "completed" ? "ok" : "error";
    } catch (err) {
      // The run was deleted meanwhile: nothing more to say than that it is gone.
      if (err.status !== 404) { message = err.message; kind = "error"; }
    }
    say($("run-status"), message, kind);
  }

  /* Asks for the running runs once; goes on every POLL_MS while some are queued or running. */
  async function poll() {
    clearTimeout(timer);
    timer = null;
    if (polling) { again = true; return; }
    if (document.hidden) return;  // "visibilitychange" polls again when the tab is shown
    polling = true;
    lastPoll = Date.now();
    let active = known.size > 0;
    try {
      const data = await api.get("/api/backtest/running");
      const runs = data.runs || [];
      const ids = new Set(runs.map((r) => r.run_id));
      const gone = [...known.keys()].filter((id) => !ids.has(id));
      const added = runs.some((r) => !known.has(r.run_id));
      known.clear();
      for (const r of runs) known.set(r.run_id, r);
      renderRunning(runs);
      for (const id of gone) finished(id);
      if (gone.length || added) loadHistory();
      active = runs.length > 0;
    } catch (err) {
      say($("run-status"), "Cannot refresh running jobs: " + err.message, "error");
    } finally {
      polling = false;
    }
    if (again) { again = false; poll(); return; }
    if (active && !timer) timer = setTimeout(poll, POLL_MS);
  }

  /* The user is back (tab shown, window focused): one poll, unless one ran just now. */
  function recheck() {
    if (!document.hidden && Date.now() - lastPoll > RECHECK_MS) poll();
  }

  async function cancelRun(runId, button) {
    button.disabled = true;
    try {
      const data = await api.post("/api/backtest/" + encodeURIComponent(runId) + "/cancel");
      say($("run-status"), (data.status === "cancelled" ? "Cancelled run " : "Cancelling run ") + runId +
        (data.status === "cancelled" ? "." : "… (until its worker has stopped)"), "info");
      poll();
    } catch (err) {
      say($("run-status"), err.message, "error");
      button.disabled = false;
    }
  }

  /* ---------- history ---------- */

  function summaryOf(run) {
    const summary = run.metadata && run.metadata.summary;
    return summary && typeof summary === "object" ? summary : {};
  }

  function paramsText(config) {
    return Object.entries(config.strategy_params || {})
      .filter(([key]) => key !== "bar_period")
      .map(([key, value]) => key + "=" + value).join(", ");
  }

  function periodText(config) {
    const period = config.bar_period || (RTYPE_PERIOD[config.rtype] || "").toUpperCase();
    return period ? period.charAt(0) + period.slice(1).toLowerCase() : "";
  }

  /* Execution time: from a worker's start (not from queueing) to the end. */
  function tookSeconds(run) {
    if (!run.started_ns || !run.ts_end) return null;
    return Number((BigInt(run.ts_end) - BigInt(run.started_ns)) / 1000000n) / 1000;
  }

  function numberOrNull(value) {
    return value === null || value === undefined || value === "" || !Number.isFinite(Number(value)) ? null : Number(value);
  }

  // Sortable columns: key -> value to sort by (null last, whatever the direction).
  const SORTS = {
    name: (run) => (run.name || "").toLowerCase(),
    status: (run) => run.status,
    strategy: (run) => ((run.config || {}).strategy || "") + " " + paramsText(run.config || {}),
    started: (run) => BigInt(run.started_ns || run.ts_start || 0),
    took: (run) => tookSeconds(run),
    trades: (run) => numberOrNull(summaryOf(run).trades),
    sharpe: (run) => numberOrNull(summaryOf(run).sharpe),
    net_pnl: (run) => numberOrNull(summaryOf(run).net_pnl),
  };

  function compare(a, b) {
    const x = SORTS[sort.key](a), y = SORTS[sort.key](b);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    const order = x < y ? -1 : x > y ? 1 : 0;
    return sort.ascending ? order : -order;
  }

  function statusCell(run) {
    const meta = run.metadata || {};
    const note = run.status === "failed" ? "at " + progressOf(run).toFixed(0) + " %" : "";
    return el("td", { dataset: { label: "Status" } }, [
      el("span", { class: "badge badge-" + run.status, text: run.status }),
      note ? el("span", { class: "muted small", text: " " + note }) : null,
      meta.error && run.status !== "failed" ? el("div", { class: "muted small wrap", text: meta.error }) : null,
    ]);
  }

  function startedCell(run) {
    if (!run.started_ns) {
      // Queued, cancelled before it started, or run before start times were kept: when it
      // was created is what is known.
      const what = run.status === "queued" ? "queued" : "created";
      const title = run.status === "queued" ? "Waiting for a worker since then"
        : "When it was created; its start was not recorded";
      return el("td", { class: "muted", dataset: { label: "Started (UTC)" }, title: title }, [
        nsToDateTime(run.ts_start), el("div", { class: "small", text: what }),
      ]);
    }
    const queued = duration(run.ts_start, run.started_ns);
    const waited = Number((BigInt(run.started_ns) - BigInt(run.ts_start)) / 1000000n) >= 1000;
    return el("td", { dataset: { label: "Started (UTC)" } }, [
      nsToDateTime(run.started_ns),
      waited ? el("div", { class: "muted small", text: "queued " + queued }) : null,
    ]);
  }

  function linksCell(run) {
    if (run.status !== "completed") return el("td", { class: "muted small links", text: "—" });
    const id = encodeURIComponent(run.run_id);
    return el("td", { class: "links" }, [
      el("a", { href: "/performance?run=" + id, text: "Performance" }),
      el("a", { href: "/chart?run=" + id, text: "Chart" }),
    ]);
  }

  function historyRow(run) {
    const config = run.config || {};
    const summary = summaryOf(run);
    const box = el("input", { type: "checkbox", value: run.run_id, checked: chosen.has(run.run_id), "aria-label": "Select run " + run.run_id });
    if (run.can_delete === false) box.title = NOT_YOURS_DELETE;  // it can still be compared
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(run.run_id); else chosen.delete(run.run_id);
      selectionChanged();
    });
    const symbols = config.symbols || [];
    const shown = symbols.length > 4 ? symbols.slice(0, 4).join(", ") + " +" + (symbols.length - 4) : symbols.join(", ");
    const took = tookSeconds(run);
    return el("tr", { dataset: { runId: run.run_id } }, [
      el("td", { class: "select-cell" }, [box]),
      el("td", { class: "name-cell" }, [
        el("div", { class: "run-name", text: run.name || config.strategy || run.run_id }),
        el("div", { class: "muted small", text: run.run_id + (run.owner ? " · " + run.owner : "") }),
      ]),
      statusCell(run),
      el("td", { class: "strategy-cell", dataset: { label: "Strategy" } }, [
        el("div", { text: config.strategy || "—" }),
        el("div", { class: "muted small", text: paramsText(config) }),
      ]),
      el("td", { class: "symbols-cell", dataset: { label: "Symbols" }, title: symbols.join(", ") }, [
        el("div", { text: shown }),
        el("div", { class: "muted small", text: periodText(config) }),
      ]),
      startedCell(run),
      el("td", { class: "num", dataset: { label: "Took" }, text: took === null ? "—" : window.OST.seconds(took) }),
      el("td", { class: "num", dataset: { label: "Trades" }, text: num(summary.trades, 0) }),
      el("td", { class: "num", dataset: { label: "Sharpe" }, text: num(summary.sharpe) }),
      el("td", { class: "num " + signClass(summary.net_pnl), dataset: { label: "Net P&L" }, text: num(summary.net_pnl) }),
      linksCell(run),
    ]);
  }

  /* A failed run's error and traceback, on a row of its own under the run. */
  function failureRow(run) {
    const meta = run.metadata || {};
    const where = meta.failed_bar
      ? " on " + meta.failed_bar.symbol + " at " + nsToDateTime(meta.failed_bar.ts_event_ns, true) + " UTC"
      : "";
    const details = el("details", { class: "failure" }, [
      el("summary", {}, [
        el("span", { class: "failure-error", text: meta.error || "Failed (no error recorded)." }),
        el("span", { class: "muted small", text: " · failed after " + progressOf(run).toFixed(0) + " % of the bars" + where }),
      ]),
      meta.traceback
        ? el("pre", { class: "traceback", text: meta.traceback })
        : el("p", { class: "muted small", text: "No traceback was recorded." }),
    ]);
    return el("tr", { class: "failure-row", dataset: { failureOf: run.run_id } }, [
      el("td", { colspan: String(HISTORY_COLUMNS) }, [details]),
    ]);
  }

  const HISTORY_COLUMNS = 11;

  function renderHistory() {
    const body = $("history").tBodies[0];
    const open = new Set([...body.querySelectorAll("tr.failure-row details[open]")].map((d) => d.closest("tr").dataset.failureOf));
    body.replaceChildren();
    if (historyRuns.length === 0) {
      body.append(el("tr", {}, [el("td", { colspan: String(HISTORY_COLUMNS), class: "empty-cell", text: "No runs yet. Configure a backtest above and press Run." })]));
    }
    for (const run of historyRuns.slice().sort(compare)) {
      body.append(historyRow(run));
      if (run.status === "failed") {
        const row = failureRow(run);
        if (open.has(run.run_id)) row.querySelector("details").open = true;
        body.append(row);
      }
    }
    markSorted();
    selectionChanged();
  }

  function markSorted() {
    for (const th of $("history").tHead.rows[0].cells) {
      if (!th.dataset.sort) continue;
      const on = th.dataset.sort === sort.key;
      th.setAttribute("aria-sort", on ? (sort.ascending ? "ascending" : "descending") : "none");
    }
    const select = $("history-sort");
    if (select) select.value = sort.key + ":" + (sort.ascending ? "asc" : "desc");
  }

  function sortBy(key, ascending) {
    if (ascending === undefined) {
      // A new column starts with what people look for first: highest figures, newest runs.
      ascending = sort.key === key ? !sort.ascending : ["name", "status", "strategy"].includes(key);
    }
    sort.key = key;
    sort.ascending = ascending;
    renderHistory();
  }

  function deletable() {
    return historyRuns.filter((r) => r.can_delete !== false);
  }

  /* Runs can be ticked to compare them whoever owns them; Delete needs every ticked run to
     be the user's own (or the delete permission), as the server checks too. */
  function selectionChanged() {
    for (const id of [...chosen]) if (!historyRuns.some((r) => r.run_id === id)) chosen.delete(id);
    const mine = new Set(deletable().map((r) => r.run_id));
    const notYours = [...chosen].filter((id) => !mine.has(id)).length;
    const button = $("delete-runs");
    button.disabled = chosen.size === 0 || notYours > 0;
    button.title = notYours ? notYours + " of the ticked runs are not yours: " + NOT_YOURS_DELETE : "";
    button.textContent = chosen.size ? "Delete selected (" + chosen.size + ")" : "Delete selected";
    const all = $("select-all-runs");
    all.checked = historyRuns.length > 0 && chosen.size === historyRuns.length;
    all.indeterminate = chosen.size > 0 && chosen.size < historyRuns.length;
  }

  async function loadHistory() {
    try {
      const data = await api.get("/api/runs?limit=200");
      historyRuns = data.runs || [];
      if ($("history-status").classList.contains("status-error")) say($("history-status"), "");
      renderHistory();
    } catch (err) {
      say($("history-status"), "Cannot load the run history: " + err.message, "error");
    }
  }

  async function deleteChosen() {
    const ids = [...chosen];
    if (ids.length === 0) return;
    const running = historyRuns.filter((r) => ids.includes(r.run_id) && ["running", "queued", "cancelling"].includes(r.status)).length;
    const question = "Delete " + ids.length + " run" + (ids.length > 1 ? "s" : "") + " and all recorded data?" +
      (running ? " " + running + " still running will be cancelled." : "") + " This cannot be undone.";
    if (!window.confirm(question)) return;
    $("delete-runs").disabled = true;
    try {
      const data = await api.del("/api/runs", { run_ids: ids });
      chosen.clear();
      say($("history-status"), "Deleted " + data.deleted + " run" + (data.deleted === 1 ? "" : "s") + ".", "ok");
    } catch (err) {
      say($("history-status"), err.message, "error");
    }
    await loadHistory();
    poll();
  }

  function start() {
    $("select-all-runs").addEventListener("change", (event) => {
      chosen.clear();
      if (event.target.checked) historyRuns.forEach((r) => chosen.add(r.run_id));
      $("history").querySelectorAll("tbody input[type=checkbox]").forEach((box) => { box.checked = event.target.checked; });
      selectionChanged();
    });
    $("history").tHead.querySelectorAll("th[data-sort] button.sort").forEach((button) => {
      button.addEventListener("click", () => sortBy(button.closest("th").dataset.sort));
    });
    $("history-sort").addEventListener("change", (event) => {
      const [key, direction] = event.target.value.split(":");
      sortBy(key, direction === "asc");
    });
    $("refresh-runs").addEventListener("click", () => { loadHistory(); poll(); });
    $("delete-runs").addEventListener("click", deleteChosen);
    document.addEventListener("visibilitychange", recheck);
    window.addEventListener("focus", recheck);
    loadHistory();
    poll();
  }

  /* Follows a run just submitted, so its end is reported even if it finishes before a poll
     sees it running. */
  function watch(runId) {
    if (!known.has(runId)) known.set(runId, { run_id: runId });
    poll();
    loadHistory();
  }

  window.OST.runsPanel = { start, poll, loadHistory, watch };
})();
