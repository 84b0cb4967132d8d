/* The backtest page's "Running" panel (live progress, Cancel) and "History" table (links to
   the analysis pages, multi-select delete). Everything comes from the API, so a reload shows
   the same state. Exposes OST.runsPanel {start, poll, loadHistory}. */
(function () {
  "use strict";
  const { api, el, say, num, signClass, nsToDateTime, duration, RTYPE_PERIOD } = window.OST;
  const $ = (id) => document.getElementById(id);

  const POLL_MS = 1000;
  const known = new Map();      // run_id -> last seen running row
  const chosen = new Set();     // run ids ticked in the history
  let timer = null;
  let historyRuns = [];

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
        el("strong", { text: run.name || config.strategy || run.run_id }),
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

  async function poll() {
    clearTimeout(timer);
    if (!document.hidden) {
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
      } catch (err) {
        say($("run-status"), "Cannot refresh running jobs: " + err.message, "error");
      }
    }
    timer = setTimeout(poll, POLL_MS);
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

  function statusCell(run) {
    const error = run.metadata && run.metadata.error;
    return el("td", {}, [
      el("span", { class: "badge badge-" + run.status, text: run.status }),
      error ? el("div", { class: "run-error small", text: error, title: error }) : null,
    ]);
  }

  function linksCell(run) {
    if (run.status !== "completed") return el("td", { class: "muted small", text: "—" });
    const id = encodeURIComponent(run.run_id);
    return el("td", { class: "links" }, [
      el("a", { href: "/performance?run=" + id, text: "Performance" }),
      el("a", { href: "/chart?run=" + id, text: "Chart" }),
    ]);
  }

  function historyRow(run) {
    const config = run.config || {};
    const meta = run.metadata || {};
    const box = el("input", { type: "checkbox", value: run.run_id, checked: chosen.has(run.run_id), "aria-label": "Select run " + run.run_id });
    if (run.can_delete === false) { box.disabled = true; box.checked = false; box.title = NOT_YOURS_DELETE; }
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(run.run_id); else chosen.delete(run.run_id);
      selectionChanged();
    });
    const symbols = config.symbols || [];
    const period = config.bar_period || RTYPE_PERIOD[config.rtype] || "";
    return el("tr", { dataset: { runId: run.run_id } }, [
      el("td", {}, [box]),
      el("td", {}, [el("div", { class: "run-name", text: run.name || config.strategy || run.run_id }), el("div", { class: "muted small", text: run.run_id + (run.owner ? " · " + run.owner : "") })]),
      statusCell(run),
      el("td", { text: nsToDateTime(run.ts_start) }),
      el("td", { class: "wide-only", text: run.ts_end ? duration(run.ts_start, run.ts_end) : "" }),
      el("td", { class: "symbols-cell", title: symbols.join(", "), text: symbols.length > 4 ? symbols.slice(0, 4).join(", ") + " +" + (symbols.length - 4) : symbols.join(", ") }),
      el("td", { class: "wide-only", text: period.charAt(0) + period.slice(1).toLowerCase() }),
      el("td", { class: "num " + signClass(meta.net_pnl), text: meta.net_pnl === undefined ? "—" : num(meta.net_pnl) }),
      linksCell(run),
    ]);
  }

  function deletable() {
    return historyRuns.filter((r) => r.can_delete !== false);
  }

  function selectionChanged() {
    for (const id of [...chosen]) if (!deletable().some((r) => r.run_id === id)) chosen.delete(id);
    $("delete-runs").disabled = chosen.size === 0;
    $("delete-runs").textContent = chosen.size ? "Delete selected (" + chosen.size + ")" : "Delete selected";
    const all = $("select-all-runs");
    const selectable = deletable().length;
    all.disabled = selectable === 0 && historyRuns.length > 0;
    all.checked = selectable > 0 && chosen.size === selectable;
    all.indeterminate = chosen.size > 0 && chosen.size < selectable;
  }

  async function loadHistory() {
    const body = $("history").tBodies[0];
    try {
      const data = await api.get("/api/runs?limit=200");
      historyRuns = data.runs || [];
      body.replaceChildren();
      if (historyRuns.length === 0) {
        body.append(el("tr", {}, [el("td", { colspan: "9", class: "empty-cell", text: "No runs yet. Configure a backtest above and press Run." })]));
      }
      for (const run of historyRuns) body.append(historyRow(run));
      selectionChanged();
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
  }

  function start() {
    $("select-all-runs").addEventListener("change", (event) => {
      chosen.clear();
      if (event.target.checked) deletable().forEach((r) => chosen.add(r.run_id));
      $("history").querySelectorAll("tbody input[type=checkbox]:not(:disabled)").forEach((box) => { box.checked = event.target.checked; });
      selectionChanged();
    });
    $("delete-runs").addEventListener("click", deleteChosen);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
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
