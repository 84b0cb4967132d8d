/* The backtest page: strategy + parameters, data source, symbols and presets, dates, Run;
   the running jobs panel (polls the API, so it survives a reload) and the run history. */
(function () {
  "use strict";
  const { api, el, say, nsToDate, params, ApiError, errorText } = window.OST;
  const $ = (id) => document.getElementById(id);

  const state = {
    coverage: [],          // [{publisher_id, symbol, rtype, min_ts, max_ts}] of the chosen dataset
    selected: new Set(),   // chosen symbols
    paramForm: new window.OST.ParamForm($("params")),
  };
  // Read by optimise.js (the Optimise section starts a study from this form).
  window.OST.backtestForm = { symbols: () => [...state.selected].sort(), params: () => state.paramForm.values() };

  /* ---------- field errors ---------- */

  const FIELD_ELEMENTS = {
    strategy: "strategy", rtype: "rtype", publisher_id: "dataset", symbols: "symbol-list",
    start_date: "start_date", end_date: "end_date", record: "record", name: "run-name",
    capital: "capital",
  };

  function fieldError(field, message) {
    const box = $("err-" + field);
    if (!box) return false;
    box.textContent = message || "";
    box.hidden = !message;
    const input = $(FIELD_ELEMENTS[field] || "");
    if (input) {
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    return true;
  }

  function clearErrors() {
    document.querySelectorAll("#backtest-form .field-error").forEach((box) => {
      box.textContent = ""; box.hidden = true;
    });
    document.querySelectorAll("#backtest-form [aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }

  /* Puts each field's message next to its field; returns [field, message] of the others. */
  function showServerErrors(err) {
    const unplaced = [];
    for (const [field, value] of Object.entries(err.fields || {})) {
      const message = Array.isArray(value) ? value.join(" ") : typeof value === "object" ? JSON.stringify(value) : String(value);
      if (field.startsWith("strategy_params") || state.paramForm.fields.has(field)) {
        if (!state.paramForm.showServerError(field, message)) fieldError("strategy_params", message);
      } else if (!fieldError(field, message)) {
        unplaced.push([field, message]);
      }
    }
    return unplaced;
  }

  /* ---------- strategies ---------- */

  async function loadStrategies() {
    const select = $("strategy");
    try {
      const data = await api.get("/api/strategies");
      const strategies = data.strategies || [];
      select.replaceChildren(el("option", { value: "", text: strategies.length ? "Choose a strategy…" : "No strategies registered" }));
      for (const s of strategies) select.append(el("option", { value: s.id, text: s.name || s.id }));
      showNotLoaded(data.not_loaded || []);
      const remembered = sessionStorage.getItem("ost.strategy");
      const pick = strategies.find((s) => s.id === remembered) || (strategies.length === 1 ? strategies[0] : null);
      if (pick) { select.value = pick.id; await loadSchema(); }
    } catch (err) {
      select.replaceChildren(el("option", { value: "", text: "Could not load strategies" }));
      fieldError("strategy", err.message);
    }
  }

  /* User files that failed to import: listed under the select (they are not choosable). */
  function showNotLoaded(files) {
    let note = $("strategy-not-loaded");
    if (!note) {
      note = el("ul", { id: "strategy-not-loaded", class: "field-error small" });
      $("err-strategy").after(note);
    }
    note.replaceChildren(...files.map((f) => el("li", { text: "Not loaded: " + f.file + ": " + f.error })));
    note.hidden = !files.length;
  }

  async function loadSchema() {
    const id = $("strategy").value;
    fieldError("strategy", "");
    fieldError("strategy_params", "");
    if (!id) { state.paramForm.clear("Pick a strategy to see its parameters."); return; }
    sessionStorage.setItem("ost.strategy", id);
    state.paramForm.clear("Loading parameters…");
    try {
      state.paramForm.render(await api.get("/api/strategies/" + encodeURIComponent(id)));
    } catch (err) {
      state.paramForm.clear("");
      fieldError("strategy", err.message);
    }
  }

  /* ---------- publishers, datasets, coverage ---------- */

  function rtype() { return $("rtype").value; }

  function fillSelect(select, options, keep, emptyText) {
    select.replaceChildren();
    if (options.length === 0) select.append(el("option", { value: "", text: emptyText }));
    for (const [value, text] of options) select.append(el("option", { value: value, text: text }));
    if (options.some(([value]) => value === keep)) select.value = keep;
    select.disabled = options.length === 0;
  }

  async function loadPublishers() {
    const select = $("publisher");
    const keep = select.value || sessionStorage.getItem("ost.publisher") || "";
    fieldError("publisher_id", "");
    try {
      const data = await api.get("/api/secmaster/publishers" + params({ rtype: rtype() }));
      const names = data.publishers || [];
      fillSelect(select, names.map((n) => [n, n]), keep, "None");
      $("no-coverage").hidden = names.length > 0;
      await loadDatasets();
    } catch (err) {
      fillSelect(select, [], "", "Could not load");
      fieldError("publisher_id", err.message);
    }
  }

  async function loadDatasets() {
    const select = $("dataset");
    const publisher = $("publisher").value;
    const keep = select.value || sessionStorage.getItem("ost.publisher_id") || "";
    if (!publisher) { fillSelect(select, [], "", "—"); setCoverage([]); return; }
    sessionStorage.setItem("ost.publisher", publisher);
    try {
      const url = "/api/secmaster/publishers/" + encodeURIComponent(publisher) + "/datasets" + params({ rtype: rtype() });
      const data = await api.get(url);
      fillSelect(select, (data.datasets || []).map((d) => [String(d.publisher_id), d.dataset]), keep, "None");
      await loadCoverage();
    } catch (err) {
      fillSelect(select, [], "", "Could not load");
      fieldError("publisher_id", err.message);
    }
  }

  async function loadCoverage() {
    const publisherId = $("dataset").value;
    if (!publisherId) { setCoverage([]); return; }
    sessionStorage.setItem("ost.publisher_id", publisherId);
    $("symbol-list").replaceChildren(el("p", { class: "muted small", text: "Loading symbols…" }));
    try {
      const data = await api.get("/api/secmaster/symbols_coverage" + params({ publisher_id: publisherId, rtype: rtype() }));
      setCoverage(data.symbols || []);
    } catch (err) {
      setCoverage([]);
      fieldError("symbols", err.message);
    }
  }

  function setCoverage(rows) {
    state.coverage = rows;
    renderSymbols();
    updateDateLimits();
  }

  /* ---------- symbols ---------- */

  function renderSymbols() {
    const list = $("symbol-list");
    const query = $("symbol-search").value.trim().toUpperCase();
    const shown = state.coverage.filter((row) => row.symbol.toUpperCase().includes(query));
    list.replaceChildren();
    if (state.coverage.length === 0) {
      list.append(el("p", { class: "muted small", text: "No symbols with data for this source and bar period." }));
    } else if (shown.length === 0) {
      list.append(el("p", { class: "muted small", text: "No symbol matches “" + query + "”." }));
    }
    for (const row of shown) {
      const id = "sym-" + row.symbol.replace(/[^A-Za-z0-9_-]/g, "_");
      const box = el("input", { type: "checkbox", id: id, value: row.symbol, checked: state.selected.has(row.symbol) });
      box.addEventListener("change", () => {
        if (box.checked) state.selected.add(row.symbol); else state.selected.delete(row.symbol);
        symbolsChanged();
      });
      list.append(el("div", { class: "check" }, [
        box,
        el("label", { for: id }, [
          el("span", { class: "sym", text: row.symbol }),
          el("span", { class: "muted small", text: nsToDate(row.min_ts) + " → " + nsToDate(row.max_ts) }),
        ]),
      ]));
    }
    updateCount(shown.length);
  }

  function updateCount(shownCount) {
    const total = state.coverage.length;
    const shown = shownCount === undefined ? total : shownCount;
    $("symbol-count").textContent = "(" + state.selected.size + " selected" +
      (shown !== total ? ", " + shown + " of " + total + " shown" : total ? " of " + total : "") + ")";
  }

  function symbolsChanged() {
    fieldError("symbols", "");
    updateCount($("symbol-list").querySelectorAll("input").length);
    updateDateLimits();
    if ($("start_date").value || $("end_date").value) validateSoon();  // their data range changed
  }

  function setSelection(symbols) {
    state.selected = new Set(symbols);
    renderSymbols();
    symbolsChanged();
  }

  /* The data range of the chosen symbols (all symbols if none), as a hint. Which dates are
     accepted is the server's rule, the same as the API's and run_backtest's (dates beyond the
     data are narrowed to it, with a note; dates missing it are refused): validateSoon(). */
  function updateDateLimits() {
    const chosen = state.coverage.filter((row) => state.selected.has(row.symbol));
    const rows = chosen.length ? chosen : state.coverage;
    const hint = $("coverage-hint");
    if (rows.length === 0) {
      hint.textContent = "Select symbols to see their data range. Empty dates use all of it.";
      return;
    }
    const bigs = (key) => rows.map((r) => window.OST.bigNs(r[key]));
    const lo = nsToDate(bigs("min_ts").reduce((a, b) => (b < a ? b : a)));
    const hi = nsToDate(bigs("max_ts").reduce((a, b) => (b > a ? b : a)));
    hint.textContent = (chosen.length ? "Data of the selected symbols: " : "Data of all symbols: ") +
      lo + " → " + hi + " (UTC days). Empty dates use all of it; dates beyond it are narrowed to it.";
  }

  /* Only what the browser alone knows: a date typed in part. */
  function checkDates() {
    let ok = true;
    for (const field of ["start_date", "end_date"]) {
      const message = $(field).validity.badInput ? "Enter a full date." : "";
      fieldError(field, message);
      ok = ok && !message;
    }
    return ok;
  }

  /* ---------- checking with the server as the user goes ---------- */

  // Fields whose server message is shown before submitting: the user has set them. The
  // others (no symbol yet...) are only reported when the user presses Run.
  const LIVE_FIELDS = new Set(["strategy_params", "start_date", "end_date"]);
  const VALIDATE_DELAY_MS = 350;
  let validateTimer = null;
  let validateToken = 0;

  function requestBody() {
    const body = {
      strategy: $("strategy").value,
      strategy_params: state.paramForm.values(),
      symbols: [...state.selected].sort(),
      rtype: Number(rtype()),
      publisher_id: Number($("dataset").value),
      start_date: $("start_date").value || null,
      end_date: $("end_date").value || null,
      record: $("record").value,
      capital: $("capital").value === "" ? null : Number($("capital").value),
    };
    const fills = window.OST.fillSettings;  // fill_settings.js: the "Fills and costs" section
    if (fills) Object.assign(body, fills.values());
    const name = $("run-name").value.trim();
    if (name) body.name = name;
    return body;
  }

  function validateSoon() {
    clearTimeout(validateTimer);
    validateTimer = setTimeout(validateNow, VALIDATE_DELAY_MS);
  }

  async function validateNow() {
    if (!$("strategy").value) return;
    if (!checkDates()) return;
    const token = ++validateToken;
    let fields = {};
    let notes = [];
    try {
      notes = (await api.post("/api/backtest/validate", requestBody())).notes || [];
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 400) return;  // say nothing on a hiccup
      fields = err.fields || {};
    }
    if (token !== validateToken) return;  // a newer check is on its way
    state.paramForm.showRuleError("");
    for (const name of state.paramForm.fields.keys()) state.paramForm.check(name);
    fieldError("strategy_params", "");
    for (const field of ["start_date", "end_date"]) fieldError(field, "");
    for (const [field, message] of Object.entries(fields)) {
      if (!LIVE_FIELDS.has(field)) continue;
      if (field === "strategy_params") {
        if (!state.paramForm.showServerError(field, message)) fieldError(field, message);
      } else {
        fieldError(field, message);
      }
    }
    say($("date-notes"), notes.join(" "), "info");
  }

  /* ---------- presets ---------- */

  async function loadPresets(keep) {
    const select = $("preset");
    try {
      const data = await api.get("/api/presets");
      const names = (data.presets || []).map((p) => (typeof p === "string" ? p : p.name));
      fillSelect(select, names.map((n) => [n, n]), keep === undefined ? select.value : keep, "No presets yet");
    } catch (err) {
      say($("preset-status"), err.message, "error");
    }
    const none = $("preset").disabled;
    for (const id of ["preset-load", "preset-update", "preset-delete"]) $(id).disabled = none;
    presetAccess();
  }

  /* Update and Delete only for a preset the user may change or delete (theirs, or with the
     permission): the API says so per preset. */
  async function presetAccess() {
    const name = $("preset").value;
    if (!name || $("preset").disabled) return;
    try {
      const preset = await api.get("/api/presets/" + encodeURIComponent(name));
      if ($("preset").value !== name) return;  // another one was chosen meanwhile
      for (const [id, allowed, action] of [["preset-update", preset.can_change, "changing"], ["preset-delete", preset.can_delete, "deleting"]]) {
        $(id).disabled = allowed === false;
        $(id).title = allowed === false ? "Preset of " + (preset.owner || "nobody") + ": " + action + " it needs the permission" : "";
      }
    } catch (err) {
      // The preset list is refreshed on the next save or delete; Load reports the error.
    }
  }

  async function presetLoad() {
    const name = $("preset").value;
    if (!name) return;
    try {
      const preset = await api.get("/api/presets/" + encodeURIComponent(name));
      const available = new Set(state.coverage.map((r) => r.symbol));
      const symbols = preset.symbols || [];
      setSelection(symbols.filter((s) => available.has(s)));
      const missing = symbols.filter((s) => !available.has(s));
      say($("preset-status"), "Loaded “" + name + "”: " + (symbols.length - missing.length) + " symbols." +
        (missing.length ? " Without data for this source and bar period: " + missing.join(", ") + "." : ""),
        missing.length ? "error" : "ok");
    } catch (err) {
      say($("preset-status"), err.message, "error");
    }
  }

  async function presetSave() {
    const name = $("preset-name").value.trim();
    if (!name) { say($("preset-status"), "Enter a name for the new preset.", "error"); $("preset-name").focus(); return; }
    if (state.selected.size === 0) { say($("preset-status"), "Select at least one symbol first.", "error"); return; }
    try {
      await api.post("/api/presets", { name: name, symbols: [...state.selected].sort() });
      $("preset-name").value = "";
      await loadPresets(name);
      say($("preset-status"), "Saved preset “" + name + "” (" + state.selected.size + " symbols).", "ok");
    } catch (err) {
      say($("preset-status"), errorText(err), "error");
    }
  }

  async function presetUpdate() {
    const name = $("preset").value;
    if (!name) return;
    if (state.selected.size === 0) { say($("preset-status"), "Select at least one symbol first.", "error"); return; }
    if (!window.confirm("Replace the symbols of preset “" + name + "” with the " + state.selected.size + " selected?")) return;
    try {
      await api.put("/api/presets/" + encodeURIComponent(name), { name: name, symbols: [...state.selected].sort() });
      say($("preset-status"), "Updated preset “" + name + "”.", "ok");
    } catch (err) {
      say($("preset-status"), errorText(err), "error");
    }
  }

  async function presetDelete() {
    const name = $("preset").value;
    if (!name) return;
    if (!window.confirm("Delete preset “" + name + "”? This cannot be undone.")) return;
    try {
      await api.del("/api/presets/" + encodeURIComponent(name));
      await loadPresets("");
      say($("preset-status"), "Deleted preset “" + name + "”.", "ok");
    } catch (err) {
      say($("preset-status"), err.message, "error");
    }
  }

  /* ---------- run ---------- */

  async function submitRun(event) {
    event.preventDefault();
    clearErrors();
    const status = $("run-status");
    let ok = true;
    if (!$("strategy").value) { fieldError("strategy", "Choose a strategy."); ok = false; }
    if (!state.paramForm.validate()) ok = false;
    if (!$("dataset").value) { fieldError("publisher_id", "Choose a publisher and dataset with data."); ok = false; }
    if (state.selected.size === 0) { fieldError("symbols", "Select at least one symbol."); ok = false; }
    if (!checkDates()) ok = false;
    const capital = Number($("capital").value);
    if (!(capital > 0) || !Number.isFinite(capital)) { fieldError("capital", "Enter a starting capital above 0."); ok = false; }
    const fills = window.OST.fillSettings;  // fill_settings.js: the "Fills and costs" section
    if (fills && !fills.validate()) ok = false;
    if (!ok) { say(status, "Fix the marked fields first.", "error"); return; }
    clearTimeout(validateTimer);
    validateToken++;  // a check still on its way must not overwrite what the run answers
    const button = $("run-button");
    button.disabled = true;
    say(status, "Starting…", "loading");
    try {
      const data = await api.post("/api/backtest/run", requestBody());
      const notes = (data.notes || []).join(" ");
      say(status, "Run " + data.run_id + " is " + (data.status || "queued") + "." + (notes ? " Note: " + notes : ""), "ok");
      window.OST.runsPanel.watch(data.run_id);
    } catch (err) {
      const unplaced = err instanceof ApiError ? showServerErrors(err) : [];
      say(status, errorText({ message: err.message, fields: Object.fromEntries(unplaced) }), "error");
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- wiring ---------- */

  function init() {
    $("strategy").addEventListener("change", loadSchema);
    $("rtype").addEventListener("change", () => { clearErrors(); loadPublishers(); });
    $("publisher").addEventListener("change", loadDatasets);
    $("dataset").addEventListener("change", loadCoverage);
    $("symbol-search").addEventListener("input", renderSymbols);
    $("select-shown").addEventListener("click", () => {
      $("symbol-list").querySelectorAll("input[type=checkbox]").forEach((box) => state.selected.add(box.value));
      renderSymbols(); symbolsChanged();
    });
    $("clear-symbols").addEventListener("click", () => setSelection([]));
    $("start_date").addEventListener("change", validateSoon);
    $("end_date").addEventListener("change", validateSoon);
    $("params").addEventListener("input", validateSoon);
    $("params").addEventListener("change", validateSoon);
    $("preset").addEventListener("change", presetAccess);
    $("preset-load").addEventListener("click", presetLoad);
    $("preset-save").addEventListener("click", presetSave);
    $("preset-update").addEventListener("click", presetUpdate);
    $("preset-delete").addEventListener("click", presetDelete);
    $("backtest-form").addEventListener("submit", submitRun);
    loadStrategies();
    loadPublishers();
    loadPresets();
    window.OST.runsPanel.start();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
