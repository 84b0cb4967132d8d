/* A study's page: progress (polled while it runs), cancel / resume / run more trials, the
   best trial with "Open as full run", the overfitting verdict, the charts, and the sortable,
   paginated trials table. Talks to /api/studies/<id>. Uses OST.charts for images. */
(function () {
  "use strict";
  const { api, el, say, num, params, ApiError } = window.OST;
  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(["queued", "running"]);
  const PAGE = 25;
  const METRICS = ["net_pnl", "total_return_pct", "sharpe", "sortino", "calmar", "cagr_pct",
    "profit_factor", "expectancy", "win_rate", "trades", "max_drawdown", "max_drawdown_pct",
    "exposure_pct"];

  const state = {
    id: document.getElementById("study-root").dataset.studyId,
    study: null,
    sort: "value",
    order: "desc",
    status: "",
    offset: 0,
    chartsFor: null,   // the "done" count the charts were drawn for
    chartsAt: 0,
    timer: null,
    trialsToken: 0,    // the latest trials request; older answers are dropped
    ticked: new Set(), // trial numbers ticked to compare (kept across pages)
  };
  const COMPARE_MAX = Number(document.getElementById("study-root").dataset.compareMax) || 8;

  function base(path) { return "/api/studies/" + encodeURIComponent(state.id) + (path || ""); }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return num(value, digits === undefined ? (Number.isInteger(value) ? 0 : 2) : digits);
    return String(value);
  }

  function badgeClass(status) {
    return "badge badge-" + ({ completed: "completed", failed: "failed", cancelled: "cancelled", running: "running" }[status] || "queued");
  }

  /* ---------- header, progress, buttons ---------- */

  function renderStudy(study) {
    state.study = study;
    document.title = study.name + " · OneSecondTrader";
    $("study-name").textContent = study.name;
    const space = study.searched.map((name) => {
      const entry = study.space[name];
      if (entry.kind === "range") return name + " " + entry.min + "…" + entry.max + (entry.step ? " step " + entry.step : "");
      return name + " ∈ {" + (entry.values || []).join(", ") + "}";
    }).join("; ");
    $("study-definition").textContent = [
      study.strategy + " on " + (study.symbols || []).join(", "),
      (study.start_date || "first") + " → " + (study.end_date || "last"),
      study.sampler + " search of " + space,
      (study.constraints.length ? "rules: " + study.constraints.join(", ") : ""),
      "objective " + study.objective + " (" + study.direction + ")" + (study.min_trades ? ", at least " + study.min_trades + " trades" : ""),
      "seed " + study.seed,
    ].filter(Boolean).join(" · ");
    const status = $("study-status");
    status.className = badgeClass(study.status);
    status.textContent = study.status;
    const p = study.progress;
    $("study-progress").value = p.percent;
    $("progress-pct").textContent = Math.round(p.percent) + "%";
    const parts = [p.done.toLocaleString("en-US") + " of " + p.total.toLocaleString("en-US") + " trials done",
      p.complete + " complete", p.infeasible + " infeasible", p.failed + " failed"];
    if (p.running) parts.push(p.running + " running");
    if (p.elapsed_seconds !== null) parts.push(num(p.elapsed_seconds, 1) + " s elapsed");
    if (p.eta_seconds !== null) parts.push("about " + num(p.eta_seconds, 0) + " s left");
    $("progress-text").textContent = parts.join(" · ");
    $("study-note").textContent = study.note || "";
    $("study-note").hidden = !study.note;
    $("study-error").textContent = study.error || "";
    $("study-error").hidden = !study.error;
    const active = ACTIVE.has(study.status);
    $("cancel-study").hidden = !active;
    $("resume-study").hidden = study.status !== "cancelled";
    $("extend-field").hidden = active;
    // What is not yours (ostsite/permissions.py) is disabled and says why.
    const notYours = study.can_cancel === false
      ? "Study of " + (study.owner || "nobody") + ": this needs the permission backtests.cancel_study" : "";
    for (const id of ["cancel-study", "resume-study", "extend-study"]) {
      $(id).disabled = Boolean(notYours);
      $(id).title = notYours;
    }
    renderBest(study.best);
    renderVerdict(study);
  }

  function renderBest(best) {
    const box = $("best");
    box.replaceChildren();
    if (!best) { box.append(el("p", { class: "muted", text: "No trial has finished yet." })); return; }
    const list = el("dl", { class: "best-params" });
    for (const [name, value] of Object.entries(best.params)) list.append(el("dt", { text: name }), el("dd", { text: fmt(value) }));
    const m = best.metrics || {};
    for (const key of [state.study.objective, "trades", "sharpe", "max_drawdown"]) {
      if (key === state.study.objective && key !== "trades") list.append(el("dt", { text: key + " (objective)" }), el("dd", { text: fmt(best.value) }));
      else if (key !== state.study.objective) list.append(el("dt", { text: key }), el("dd", { text: fmt(m[key]) }));
    }
    const button = el("button", { type: "button", class: "primary", id: "open-best", text: "Open as full run" });
    button.addEventListener("click", () => openAsRun(best.number, button));
    box.append(el("p", { class: "small", text: "Trial " + best.number }), list, button);
  }

  function renderVerdict(study) {
    const stats = study.overfitting;
    const verdict = $("verdict");
    const numbers = $("verdict-numbers");
    numbers.replaceChildren();
    if (!stats) {
      verdict.textContent = ACTIVE.has(study.status) ? "Computed when the study finishes." : "Not computed yet.";
      verdict.classList.add("muted");
      numbers.hidden = true;
      return;
    }
    verdict.textContent = stats.verdict;
    verdict.classList.remove("muted");
    const rows = [["trials that ran (N)", stats.n_trials], ["days of returns", stats.n_days]];
    if (stats.dsr) rows.push(["deflated Sharpe ratio", num(stats.dsr.dsr, 4)], ["SR0 (luck, per day)", num(stats.dsr.expected_max_sharpe, 4)],
      ["best Sharpe (per day)", num(stats.dsr.sharpe, 4)]);
    if (stats.pbo) rows.push(["probability of overfitting", num(stats.pbo.pbo, 3)], ["CSCV splits", stats.pbo.n_combinations.toLocaleString("en-US")]);
    for (const [label, value] of rows) numbers.append(el("dt", { text: label }), el("dd", { text: String(value) }));
    numbers.hidden = false;
  }

  /* ---------- charts ---------- */

  function fillSelect(select, values, keep) {
    const current = keep || select.value;
    select.replaceChildren(...values.map((v) => el("option", { value: v, text: v })));
    if (values.includes(current)) select.value = current;
  }

  function setupPickers(study) {
    const searched = study.searched;
    fillSelect($("heat-x"), searched, searched[0]);
    fillSelect($("heat-y"), searched, searched[1] || searched[0]);
    const metrics = [study.objective].concat(METRICS.filter((m) => m !== study.objective));
    fillSelect($("heat-metric"), metrics, study.objective);
    fillSelect($("sens-param"), searched, searched[0]);
    fillSelect($("sens-metric"), metrics, study.objective);
    const twoParams = searched.length >= 2;
    $("heatmap-card").hidden = !twoParams;
    ["heat-x", "heat-y", "heat-metric", "heat-aggregate"].forEach((id) => { $(id).closest("div").hidden = !twoParams; });
  }

  function drawCharts() {
    const study = state.study;
    const v = study.progress.done + "-" + study.status;
    const charts = window.OST.charts;
    const show = (id, path, query) => {
      const url = base("/" + path) + params(Object.assign({}, query, { v: v }));
      charts.loadImage($(id), url, charts.statusFor($(id)), $(id + "-link"));
    };
    if (study.searched.length >= 2 && $("heat-x").value !== $("heat-y").value) {
      show("heatmap", "heatmap.png", { x: $("heat-x").value, y: $("heat-y").value, metric: $("heat-metric").value, aggregate: $("heat-aggregate").value });
    }
    show("objective", "objective.png", {});
    show("importance", "importance.png", {});
    show("sensitivity", "sensitivity.png", { param: $("sens-param").value, metric: $("sens-metric").value });
    if (!ACTIVE.has(study.status)) show("pbo", "pbo.png", {});
    state.chartsFor = study.progress.done;
    state.chartsAt = Date.now();
  }

  /* ---------- trials table ---------- */

  function columns() {
    const study = state.study;
    return [[null, "Compare"], ["number", "#"], ["status", "Status"]]
      .concat(study.searched.map((name) => ["param." + name, name]))
      .concat([["value", study.objective], ["metric.trades", "Trades"], ["metric.sharpe", "Sharpe"],
        ["metric.max_drawdown", "Max drawdown"], ["seconds", "Seconds"], [null, "Note"], [null, ""]]);
  }

  function renderHead() {
    const row = $("trials").querySelector("thead tr");
    row.replaceChildren();
    for (const [key, label] of columns()) {
      const th = el("th", { scope: "col", class: key && key !== "status" ? "num" : "" });
      if (key) {
        const button = el("button", { type: "button", class: "sort", text: label });
        button.addEventListener("click", () => {
          state.order = state.sort === key && state.order === "desc" ? "asc" : state.sort === key ? "desc" : (key === "number" ? "asc" : "desc");
          state.sort = key;
          state.offset = 0;
          loadTrials();
        });
        th.append(button);
        if (state.sort === key) th.setAttribute("aria-sort", state.order === "asc" ? "ascending" : "descending");
      } else {
        th.textContent = label;
      }
      row.append(th);
    }
  }

  function trialRow(trial) {
    const m = trial.metrics || {};
    const finished = ["complete", "infeasible", "failed"].includes(trial.status);
    const box = el("input", { type: "checkbox", "aria-label": "Compare trial " + trial.number,
      checked: state.ticked.has(trial.number), disabled: trial.status !== "complete",
      title: trial.status === "complete" ? "" : "Only complete trials can be compared" });
    box.addEventListener("change", () => {
      if (box.checked) state.ticked.add(trial.number); else state.ticked.delete(trial.number);
      compareChanged();
    });
    const cells = [el("td", {}, [box]), el("td", { class: "num", text: String(trial.number) }),
      el("td", {}, [el("span", { class: badgeClass({ complete: "completed", infeasible: "cancelled", failed: "failed", running: "running" }[trial.status] || "queued"), text: trial.status })])];
    for (const name of state.study.searched) cells.push(el("td", { class: "num", text: fmt(trial.params[name]) }));
    cells.push(el("td", { class: "num", text: fmt(trial.value) }), el("td", { class: "num", text: fmt(m.trades) }),
      el("td", { class: "num", text: fmt(m.sharpe) }), el("td", { class: "num", text: fmt(m.max_drawdown) }),
      el("td", { class: "num", text: trial.seconds === null ? "—" : num(trial.seconds, 2) }),
      el("td", { class: "reason", text: trial.reason || "" }));
    const open = el("button", { type: "button", class: "small-button", text: trial.run_id ? "Run" : "Open", disabled: !finished,
      title: "Re-run trial " + trial.number + " as a full run" });
    open.addEventListener("click", () => openAsRun(trial.number, open));
    cells.push(el("td", {}, [open]));
    return el("tr", { dataset: { number: String(trial.number) } }, cells);
  }

  async function loadTrials() {
    renderHead();
    const query = { sort: state.sort, order: state.order, offset: state.offset, limit: PAGE, status: state.status };
    const token = ++state.trialsToken;
    $("trials").setAttribute("aria-busy", "true");
    try {
      const data = await api.get(base("/trials") + params(query));
      if (token !== state.trialsToken) return;  // a newer load won
      const body = $("trials").querySelector("tbody");
      body.replaceChildren(...data.trials.map(trialRow));
      if (!data.trials.length) body.append(el("tr", {}, [el("td", { colspan: columns().length, class: "muted", text: "No trials." })]));
      $("trial-count").textContent = "(" + data.count.toLocaleString("en-US") + ")";
      const last = Math.min(data.offset + data.limit, data.count);
      $("page-info").textContent = data.count ? (data.offset + 1) + "–" + last + " of " + data.count.toLocaleString("en-US") : "";
      $("prev-page").disabled = data.offset === 0;
      $("next-page").disabled = last >= data.count;
    } catch (err) {
      say($("page-status"), "Cannot load trials: " + err.message, "error");
    } finally {
      if (token === state.trialsToken) $("trials").setAttribute("aria-busy", "false");
    }
  }

  /* ---------- comparing trials ---------- */

  function compareChanged() {
    const n = state.ticked.size;
    const button = $("compare-trials");
    button.disabled = n < 2 || n > COMPARE_MAX;
    button.textContent = n ? "Compare " + n + " ticked trials" : "Compare ticked trials";
    say($("compare-status"), n > COMPARE_MAX ? "At most " + COMPARE_MAX + " runs can be compared at once." : "", n > COMPARE_MAX ? "error" : "");
  }

  /* Each ticked trial as a full run (made once, then reused), then the comparison page. */
  async function compareTrials() {
    const numbers = [...state.ticked].sort((a, b) => a - b);
    const button = $("compare-trials");
    button.disabled = true;
    try {
      const runs = [];
      for (const number of numbers) runs.push((await api.post(base("/trials/" + number + "/run"))).run_id);
      for (let i = 0; i < 1200; i++) {
        const statuses = await Promise.all(runs.map((id) => api.get("/api/backtest/status/" + encodeURIComponent(id))));
        const bad = statuses.findIndex((st) => st.status === "failed" || st.status === "cancelled");
        if (bad >= 0) {
          say($("compare-status"), "Trial " + numbers[bad] + "'s run " + runs[bad] + " " + statuses[bad].status + ".", "error");
          return;
        }
        const ready = statuses.filter((st) => st.status === "completed").length;
        if (ready === runs.length) {
          window.location.href = "/compare?run_ids=" + encodeURIComponent(runs.join(","));
          return;
        }
        say($("compare-status"), "Running the trials in full: " + ready + " of " + runs.length + " ready…", "loading");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } catch (err) {
      say($("compare-status"), err.message, "error");
    } finally {
      compareChanged();
    }
  }

  /* ---------- actions ---------- */

  async function openAsRun(number, button) {
    button.disabled = true;
    say($("page-status"), "Running trial " + number + " as a full run…", "loading");
    try {
      const run = await api.post(base("/trials/" + number + "/run"));
      for (let i = 0; i < 600; i++) {
        const status = await api.get("/api/backtest/status/" + encodeURIComponent(run.run_id));
        if (status.status === "completed") { window.location.href = "/performance?run=" + encodeURIComponent(run.run_id); return; }
        if (status.status === "failed" || status.status === "cancelled") {
          say($("page-status"), "The run " + run.run_id + " " + status.status + (status.error ? ": " + status.error : "."), "error");
          return;
        }
        say($("page-status"), "Running trial " + number + " as a full run… " + Math.round(status.progress || 0) + "%", "loading");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } catch (err) {
      say($("page-status"), err.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  async function act(path, body, message) {
    try {
      await api.post(base(path), body);
      say($("page-status"), message, "ok");
      await refresh();
    } catch (err) {
      const detail = err instanceof ApiError && err.fields && err.fields.n_trials ? err.fields.n_trials : err.message;
      say($("page-status"), detail, "error");
    }
  }

  /* ---------- polling ---------- */

  async function refresh() {
    clearTimeout(state.timer);
    try {
      const study = await api.get(base());
      const first = state.study === null;
      renderStudy(study);
      if (first) setupPickers(study);
      const active = ACTIVE.has(study.status);
      if (first || (study.progress.done !== state.chartsFor && (!active || Date.now() - state.chartsAt > 5000))) {
        drawCharts();
        loadTrials();
      } else if (active) {
        loadTrials();
      }
      if (active) state.timer = setTimeout(refresh, 1500);
    } catch (err) {
      say($("page-status"), "Cannot load the study: " + err.message, "error");
      state.timer = setTimeout(refresh, 5000);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    ["heat-x", "heat-y", "heat-metric", "heat-aggregate", "sens-param", "sens-metric"].forEach((id) =>
      $(id).addEventListener("change", drawCharts));
    $("trial-status").addEventListener("change", () => { state.status = $("trial-status").value; state.offset = 0; loadTrials(); });
    $("prev-page").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadTrials(); });
    $("next-page").addEventListener("click", () => { state.offset += PAGE; loadTrials(); });
    $("compare-trials").addEventListener("click", compareTrials);
    $("cancel-study").addEventListener("click", () => act("/cancel", undefined, "Cancelled: running trials stop within a second."));
    $("resume-study").addEventListener("click", () => act("/resume", undefined, "Resumed."));
    $("extend-study").addEventListener("click", () =>
      act("/extend", { n_trials: Number($("extend-trials").value) }, "Running " + $("extend-trials").value + " more trials."));
    refresh();
  });
})();
