/* Strategy parameter form built from a strategy's schema
   ({"parameters": [{name, type, default, min, max, step, choices}], "constraints": [...]}),
   with limits enforced in the browser and messages next to each field. The rules between
   parameters ("fast_period < slow_period") are listed under the fields; the server checks
   them (backtest.js asks it as the user types) and its message is shown there, with the
   fields it names marked. Used by backtest.js; exposes OST.ParamForm. */
(function () {
  "use strict";
  const { el } = window.OST;

  // The bar period follows the page's "Bar period" select (rtype), not a parameter field.
  const DRIVEN_BY_PAGE = new Set(["bar_period"]);

  function humanName(name) {
    const text = name.replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function limitsText(spec) {
    const parts = [];
    if (spec.min !== null && spec.min !== undefined) parts.push("min " + spec.min);
    if (spec.max !== null && spec.max !== undefined) parts.push("max " + spec.max);
    if (spec.step !== null && spec.step !== undefined) parts.push("step " + spec.step);
    return parts.join(" · ");
  }

  function hasChoices(spec) {
    return Array.isArray(spec.choices) && spec.choices.length > 0;
  }

  /* The message for a field whose value breaks its limits, or "" when it is fine. */
  function problem(spec, input) {
    if (spec.type !== "int" && spec.type !== "float") return "";
    const v = input.validity;
    const raw = input.value.trim();
    if (v.badInput || (raw !== "" && !Number.isFinite(Number(raw)))) return "Enter a number.";
    if (raw === "") return "Enter a value.";
    const n = Number(raw);
    if (spec.type === "int" && !Number.isInteger(n)) return "Enter a whole number.";
    if (spec.min !== null && spec.min !== undefined && n < spec.min) return "Must be at least " + spec.min + ".";
    if (spec.max !== null && spec.max !== undefined && n > spec.max) return "Must be at most " + spec.max + ".";
    if (v.stepMismatch) {
      const base = spec.min !== null && spec.min !== undefined ? " starting from " + spec.min : "";
      return "Must be in steps of " + spec.step + base + ".";
    }
    return "";
  }

  class ParamForm {
    constructor(container) {
      this.container = container;
      this.fields = new Map(); // name -> {spec, input, error}
      this.rules = null;       // {box, error} when the strategy has rules between parameters
      this.ruleFields = [];    // fields marked by the rule message shown
    }

    clear(message) {
      this.fields.clear();
      this.rules = null;
      this.ruleFields = [];
      this.container.querySelectorAll(".param, .param-rules").forEach((node) => node.remove());
      const empty = this.container.querySelector("#params-empty");
      if (empty) { empty.textContent = message || ""; empty.hidden = !message; }
    }

    render(schema) {
      this.clear("");
      const specs = (schema.parameters || []).filter((spec) => !DRIVEN_BY_PAGE.has(spec.name));
      if (specs.length === 0) {
        this.clear("This strategy has no parameters besides the bar period.");
        return;
      }
      for (const spec of specs) this.container.append(this.field(spec));
      const rules = schema.constraints || [];
      if (rules.length) this.container.append(this.rulesBox(rules));
    }

    rulesBox(rules) {
      const error = el("p", { class: "field-error", id: "err-param-rules", hidden: true });
      const box = el("div", { class: "param-rules", id: "param-rules", "aria-describedby": "err-param-rules" }, [
        el("p", { class: "hint", text: rules.length === 1 ? "Rule:" : "Rules:" }),
        el("ul", {}, rules.map((rule) => el("li", {}, [el("code", { text: rule })]))),
        error,
      ]);
      this.rules = { box: box, error: error };
      return box;
    }

    /* Shows (or with "" clears) a broken rule's message and marks the fields it names. */
    showRuleError(message) {
      for (const name of this.ruleFields) {
        const field = this.fields.get(name);
        if (field && field.error.hidden) field.input.removeAttribute("aria-invalid");
      }
      this.ruleFields = [];
      if (!this.rules) return false;
      this.rules.error.textContent = message || "";
      this.rules.error.hidden = !message;
      this.rules.box.classList.toggle("broken", Boolean(message));
      if (message) {
        for (const name of this.fields.keys()) {
          if (new RegExp("\\b" + name + "=").test(message)) {
            this.fields.get(name).input.setAttribute("aria-invalid", "true");
            this.ruleFields.push(name);
          }
        }
      }
      return true;
    }

    field(spec) {
      const id = "param-" + spec.name;
      const errorId = "err-param-" + spec.name;
      const hintId = "hint-param-" + spec.name;
      let input;
      if (hasChoices(spec) || spec.type === "enum") {
        input = el("select", { id: id, name: spec.name });
        (spec.choices || []).forEach((choice, index) => {
          input.append(el("option", {
            value: String(index), text: String(choice), selected: choice === spec.default,
          }));
        });
      } else if (spec.type === "bool") {
        input = el("input", { type: "checkbox", id: id, name: spec.name, checked: Boolean(spec.default) });
      } else if (spec.type === "int" || spec.type === "float") {
        const step = spec.step !== null && spec.step !== undefined ? spec.step : spec.type === "int" ? 1 : "any";
        input = el("input", {
          type: "number", id: id, name: spec.name, value: spec.default, step: step, required: true,
          min: spec.min === null ? undefined : spec.min, max: spec.max === null ? undefined : spec.max,
          inputmode: spec.type === "int" ? "numeric" : "decimal",
        });
      } else {
        input = el("input", { type: "text", id: id, name: spec.name, value: spec.default === null ? "" : spec.default });
      }
      const limits = limitsText(spec);
      input.setAttribute("aria-describedby", (limits ? hintId + " " : "") + errorId);
      const error = el("p", { class: "field-error", id: errorId, hidden: true });
      const label = el("label", { for: id, text: humanName(spec.name) });
      const wrapper = spec.type === "bool"
        ? el("div", { class: "param param-bool", dataset: { param: spec.name } }, [input, label, error])
        : el("div", { class: "param", dataset: { param: spec.name } }, [
          label, input, limits ? el("p", { class: "hint", id: hintId, text: limits }) : null, error,
        ]);
      this.fields.set(spec.name, { spec: spec, input: input, error: error });
      input.addEventListener("input", () => this.check(spec.name));
      input.addEventListener("change", () => this.check(spec.name));
      return wrapper;
    }

    showError(name, message) {
      const field = this.fields.get(name);
      if (!field) return false;
      field.error.textContent = message || "";
      field.error.hidden = !message;
      if (message) field.input.setAttribute("aria-invalid", "true");
      else field.input.removeAttribute("aria-invalid");
      return true;
    }

    check(name) {
      const field = this.fields.get(name);
      const message = problem(field.spec, field.input);
      this.showError(name, message);
      return message === "";
    }

    /* Checks every field; returns true when all are valid (and focuses the first bad one). */
    validate() {
      let first = null;
      for (const name of this.fields.keys()) {
        if (!this.check(name) && !first) first = this.fields.get(name).input;
      }
      if (first) first.focus();
      return first === null;
    }

    values() {
      const out = {};
      for (const [name, { spec, input }] of this.fields) {
        if (input.tagName === "SELECT") out[name] = spec.choices[Number(input.value)];
        else if (spec.type === "bool") out[name] = input.checked;
        else if (spec.type === "int") out[name] = parseInt(input.value, 10);
        else if (spec.type === "float") out[name] = Number(input.value);
        else out[name] = input.value;
      }
      return out;
    }

    /* Shows a server message on the parameter it names (a broken rule under the rules);
       returns false if none matched. */
    showServerError(key, message) {
      const rule = /^constraints: /.exec(message);
      if (rule) return this.showRuleError(message.slice(rule[0].length));
      const name = key.replace(/^strategy_params[.[]?/, "").replace(/\]$/, "");
      if (this.showError(name, message)) return true;
      for (const fieldName of this.fields.keys()) {
        if (new RegExp("\\b" + fieldName + "\\b").test(message)) return this.showError(fieldName, message);
      }
      return false;
    }
  }

  window.OST.ParamForm = ParamForm;
})();
