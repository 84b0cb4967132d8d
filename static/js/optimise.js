/* The backtest page's Optimise section: choose which parameters to search (a range with a
   step, or a subset of choices), rules, objective, sampler and budget, then start a study on
   the data chosen in the backtest form (OST.backtestForm, set by backtest.js) and open it. */
(function () {
  "use strict";
  const { api, el, say, ApiError } = window.OST;
  const $ = (id) => document.getElementById(id);
  const OBJECTIVES = ["net_pnl", "total_return_pct", "sharpe", "sortino", "calmar", "cagr_pct",
    "profit_factor", "expectancy", "win_rate", "trades", "max_drawdown", "max_drawdown_pct",
    "exposure_pct", "excess_return_pct"];
  const rows = new Map(); // parameter name -> {spec, toggle, inputs}

  function numberInput(id, label, value, spec) {
    const input = el("input", { type: "number", id: id, value: value === null || value === undefined ? "" : value,
      step: spec.type === "int" ? 1 : "any", inputmode: spec.type === "int" ? "numeric" : "decimal" });
    return [el("div", {}, [el("label", { for: id, text: label }), input]), input];
  }

  function row(spec) {
    const id = "opt-" + spec.name;
    const toggle = el("input", { type: "checkbox", id: id + "-search" });
    const head = el("div", { class: "search-toggle" }, [toggle, el("label", { for: id + "-search", text: "Search " + spec.name })]);
    const cells = [head];
    const inputs = {};
    const choices = Array.isArray(spec.choices) && spec.choices.length ? spec.choices : spec.type === "bool" ? [true, false] : null;
    if (choices) {
      const select = el("select", { id: id + "-choices", multiple: true, size: Math.min(4, choices.length), "aria-label": spec.name + " choices" });
      choices.forEach((choice, index) => select.append(el("option", { value: String(index), text: String(choice), selected: true })));
      inputs.choices = select;
      cells.push(el("div", { class: "choices-cell" }, [el("label", { for: id + "-choices", text: "Choices" }), select]));
    } else if (spec.type === "int" || spec.type === "float") {
      const [minBox, min] = numberInput(id + "-min", "Min", spec.min, spec);
      const [maxBox, max] = numberInput(id + "-max", "Max", spec.max, spec);
      const [stepBox, step] = numberInput(id + "-step", "Step", spec.step, spec);
      Object.assign(inputs, { min: min, max: max, step: step });
      cells.push(minBox, maxBox, stepBox);
    } else {
      return null; // a free text parameter: stays as the form says
    }
    const node = el("div", { class: "optimise-row", dataset: { param: spec.name } }, cells);
    const sync = () => Object.values(inputs).forEach((input) => { input.disabled = !toggle.checked; });
    toggle.addEventListener("change", sync);
    sync();
    rows.set(spec.name, { spec: spec, toggle: toggle, inputs: inputs, choices: choices });
    return node;
  }

  async function loadSchema() {
    const box = $("optimise-space");
    rows.clear();
    const strategy = $("strategy").value;
    if (!strategy) { box.replaceChildren(el("p", { class: "muted small", text: "Pick a strategy to choose what to search." })); return; }
    try {
      const schema = await api.get("/api/strategies/" + encodeURIComponent(strategy));
      box.replaceChildren();
      for (const spec of schema.parameters || []) {
        if (spec.name === "bar_period") continue;
        const node = row(spec);
        if (node) box.append(node);
      }
      if (!rows.size) box.append(el("p", { class: "muted small", text: "This strategy has no parameter to search." }));
      $("optimise-constraints").placeholder = (schema.constraints || []).length
        ? "The strategy's own rules always apply: " + schema.constraints.join(", ") : "";
    } catch (err) {
      box.replaceChildren(el("p", { class: "status status-error", text: "Cannot load the strategy's parameters: " + err.message }));
    }
  }

  function numberOrNull(input) {
    const text = input.value.trim();
    return text === "" ? null : Number(text);
  }

  function space() {
    const out = {};
    for (const [name, { toggle, inputs, choices }] of rows) {
      if (!toggle.checked) continue;
      if (inputs.choices) {
        out[name] = { choices: [...inputs.choices.selectedOptions].map((option) => choices[Number(option.value)]) };
      } else {
        const entry = { min: numberOrNull(inputs.min), max: numberOrNull(inputs.max) };
        const step = numberOrNull(inputs.step);
        if (step !== null) entry.step = step;
        out[name] = entry;
      }
    }
    return out;
  }

  function body() {
    const form = window.OST.backtestForm;
    const searched = space();
    const fixed = {};
    for (const [name, value] of Object.entries(form.params())) if (!(name in searched)) fixed[name] = value;
    const data = {
      strategy: $("strategy").value,
      strategy_params: fixed,
      symbols: form.symbols(),
      rtype: Number($("rtype").value),
      publisher_id: Number($("dataset").value) || null,
      start_date: $("start_date").value || null,
      end_date: $("end_date").value || null,
      space: searched,
      constraints: $("optimise-constraints").value.split("\n").map((line) => line.trim()).filter(Boolean),
      objective: $("optimise-objective").value,
    };
    const optional = {
      direction: $("optimise-direction").value || null,
      sampler: $("optimise-sampler").value || null,
      n_trials: numberOrNull($("optimise-trials")),
      seed: numberOrNull($("optimise-seed")),
      min_trades: numberOrNull($("optimise-min-trades")),
      time_limit_seconds: numberOrNull($("optimise-time-limit")),
      name: $("optimise-name").value.trim() || null,
    };
    for (const [key, value] of Object.entries(optional)) if (value !== null) data[key] = value;
    return data;
  }

  function problems(err) {
    const fields = err instanceof ApiError ? err.fields || {} : {};
    const lines = Object.entries(fields).map(([field, message]) => field + ": " + message);
    return lines.length ? lines.join(" · ") : err.message;
  }

  async function start() {
    const status = $("optimise-status");
    if (!$("strategy").value) { say(status, "Choose a strategy first.", "error"); return; }
    if (!window.OST.backtestForm.symbols().length) { say(status, "Select at least one symbol in the form above.", "error"); return; }
    if (![...rows.values()].some((r) => r.toggle.checked)) { say(status, "Tick at least one parameter to search.", "error"); return; }
    const button = $("optimise-button");
    button.disabled = true;
    say(status, "Starting the study…", "loading");
    try {
      const created = await api.post("/api/studies", body());
      say(status, "Study " + created.study_id + " is " + created.status + ".", "ok");
      window.location.href = "/studies/" + encodeURIComponent(created.study_id);
    } catch (err) {
      say(status, problems(err), "error");
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("optimise-objective").replaceChildren(...OBJECTIVES.map((m) => el("option", { value: m, text: m })));
    $("strategy").addEventListener("change", loadSchema);
    $("optimise-button").addEventListener("click", start);
    // The strategy list loads asynchronously; draw the rows once it has a value.
    const watcher = new MutationObserver(() => { if ($("strategy").value && !rows.size) loadSchema(); });
    watcher.observe($("strategy"), { childList: true });
    loadSchema();
  });
})();
