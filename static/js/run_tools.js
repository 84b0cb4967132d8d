/* The performance page's Export menu and Rerun button: both follow the run picker (#run).
   Rerun: POST /api/runs/{id}/rerun, then GET it every second until the rerun stopped, then
   say whether the fills are identical (or the first difference). */
(function () {
  "use strict";
  const { api, say, num } = window.OST;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  let polling = null;

  function currentRun() { return $("run").value || ""; }

  function update() {
    const runId = currentRun();
    $("run-tools").hidden = !runId;
    for (const link of document.querySelectorAll("#run-tools .export-link")) {
      link.href = link.dataset.href.replace("{run}", encodeURIComponent(runId));
    }
    if (polling && polling.runId !== runId) stopPolling();
  }

  function stopPolling() {
    if (polling) clearTimeout(polling.timer);
    polling = null;
    $("rerun-button").disabled = false;
    say($("rerun-status"), "");
  }

  function report(check) {
    const status = $("rerun-status");
    if (check.status === "queued" || check.status === "running") {
      say(status, "Rerun " + check.rerun_id + " is " + check.status + "…", "loading");
      return false;
    }
    if (check.identical === true) {
      say(status, "Fills identical: " + num(check.original_fills, 0) + " fills of this run and its rerun " +
        check.rerun_id + " agree.", "ok");
    } else if (check.identical === false) {
      say(status, "Fills differ (rerun " + check.rerun_id + "): " + check.message, "error");
    } else {
      say(status, "Rerun " + check.rerun_id + " ended " + check.status + ": " + (check.error || ""), "error");
    }
    return true;
  }

  async function poll(runId) {
    try {
      const check = await api.get("/api/runs/" + encodeURIComponent(runId) + "/rerun");
      if (!polling || polling.runId !== runId) return;
      if (report(check)) { polling = null; $("rerun-button").disabled = false; return; }
      polling.timer = setTimeout(() => poll(runId), POLL_MS);
    } catch (err) {
      say($("rerun-status"), err.message, "error");
      polling = null;
      $("rerun-button").disabled = false;
    }
  }

  async function rerun() {
    const runId = currentRun();
    if (!runId) return;
    $("rerun-button").disabled = true;
    say($("rerun-status"), "Queueing a rerun…", "loading");
    try {
      const answer = await api.post("/api/runs/" + encodeURIComponent(runId) + "/rerun");
      polling = { runId: runId, timer: null };
      say($("rerun-status"), "Rerun " + answer.run_id + " is queued…", "loading");
      polling.timer = setTimeout(() => poll(runId), POLL_MS);
    } catch (err) {
      say($("rerun-status"), err.message, "error");
      $("rerun-button").disabled = false;
    }
  }

  function start() {
    const picker = $("run");
    if (!picker) return;
    picker.addEventListener("change", update);
    new MutationObserver(update).observe(picker, { childList: true });
    $("rerun-button").addEventListener("click", rerun);
    document.addEventListener("click", (event) => {
      const menu = $("export-menu");
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
    update();
  }

  start();
})();
