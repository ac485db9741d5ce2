// The playground's page logic: read the form, ask the service, show numbers, the Hessian, problems
// and plots.
// Plots are drawn from values and gradients the service returned for every grid point.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SEED_GRAPH = {
    version: 1, inputs: ["x", "y"],
    nodes: [{id: "a", op: "power", args: ["x", 3]}, {id: "b", op: "multiply", args: ["a", "y"]},
            {id: "c", op: "power", args: ["y", 2]}, {id: "d", op: "multiply", args: ["x", "c"]},
            {id: "f", op: "subtract", args: ["b", "d"]}],
    outputs: "f",
  };

  let generation = 0;  // of the latest evaluation
  const mode = () => document.querySelector("input[name=mode]:checked").value;

  // ------------------------------------------------------------------ reading the form

  function localProblem(detail, pointer) {
    return new ValgradAPI.Problem({title: "Invalid input", code: "invalid_input", detail, pointer});
  }

  function readFunction() {
    if (mode() === "expression") {
      const inputs = $("inputs").value.split(",").map((s) => s.trim()).filter(Boolean);
      return {inputs, expression: $("expression").value};
    }
    try {
      return JSON.parse($("graph").value);
    } catch (e) {
      throw localProblem(`the JSON graph is not valid JSON: ${e.message}`, "/function");
    }
  }

  function inputNames(fn) {
    const inputs = Array.isArray(fn && fn.inputs) ? fn.inputs : [];
    return inputs.map((x) => (x && typeof x === "object" ? String(x.name) : String(x)));
  }

  function parseValue(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return text;  // sent as it is: the service says what is wrong with it, and where
    }
  }

  function readParams() {
    const text = $("params").value.trim();
    if (!text) return undefined;
    return text.split(",").map((s) => s.trim()).map((s) => (/^-?\d+$/.test(s) ? Number(s) : s));
  }

  function readBody() {
    const fn = readFunction();
    syncArgFields(inputNames(fn));
    const args = [...$("args").querySelectorAll("input")].map((el) => parseValue(el.value));
    const body = {function: fn, args};
    const params = readParams();
    if (params !== undefined) body.params = params;
    return body;
  }

  // One argument field per input, keeping the values of names that stay.
  function syncArgFields(names) {
    const box = $("args");
    const old = Object.fromEntries([...box.querySelectorAll("input")].map((el) => [el.dataset.name, el.value]));
    if (names.join("\u0000") === Object.keys(old).join("\u0000")) return;
    box.replaceChildren(...names.map((name, i) => {
      const label = document.createElement("label");
      label.textContent = name;
      const input = document.createElement("input");
      Object.assign(input, {id: `arg-${i}`, value: old[name] ?? "1", spellcheck: false});
      input.dataset.name = name;
      label.htmlFor = input.id;
      const row = document.createElement("div");
      row.append(label, input);
      return row;
    }));
    $("x-name").textContent = names[0] ?? "x";
    $("y-name").textContent = names[1] ?? "y";
    $("y-range").hidden = names.length !== 2;
  }

  // ------------------------------------------------------------------ showing results and problems

  function show(text) {
    if (typeof text === "number") return String(text);
    return JSON.stringify(text);
  }

  const paramName = (p, names) => (typeof p === "number" ? names[p] ?? String(p) : p);

  function renderNumbers(answer, names) {
    const rows = [["value", answer.value]];
    answer.gradients.forEach((g, i) => rows.push([`∂/∂${paramName(answer.params[i], names)}`, g]));
    $("numbers").tBodies[0].replaceChildren(...rows.map(([name, v], i) => {
      const tr = document.createElement("tr");
      tr.dataset.row = i === 0 ? "value" : `gradient-${i - 1}`;
      const th = document.createElement("th");
      th.textContent = name;
      const td = document.createElement("td");
      td.textContent = v === null ? "None (not connected)" : show(v);
      tr.append(th, td);
      return tr;
    }));
    $("numbers").hidden = false;
  }

  const cell = (tag, text) => Object.assign(document.createElement(tag), {textContent: text});

  // hessian[i][j] as a matrix labelled by the params; a null block is an unconnected pair.
  function renderHessian(answer, names) {
    const labels = answer.params.map((p) => paramName(p, names));
    const head = document.createElement("tr");
    head.append(cell("th", ""), ...labels.map((l) => cell("th", l)));
    $("hessian").tHead.replaceChildren(head);
    $("hessian").tBodies[0].replaceChildren(...answer.hessian.map((row, i) => {
      const tr = document.createElement("tr");
      tr.append(cell("th", labels[i]), ...row.map((v) => cell("td", v === null ? "None" : show(v))));
      return tr;
    }));
    $("hessian").hidden = false;
  }

  // The Hessian of the point, asked of the service for scalar params only (else it is a big tensor).
  async function showHessian(body, answer, names, current) {
    const argOf = (p) => body.args[typeof p === "number" ? (p < 0 ? p + body.args.length : p) : names.indexOf(p)];
    $("hessian").hidden = true;
    $("curl-hessian").textContent = "";
    if (!answer.params.every((p) => typeof argOf(p) === "number")) {
      $("hessian-note").textContent = "The Hessian is shown for scalar params.";
      return;
    }
    $("hessian-note").textContent = "computing the Hessian…";
    try {
      const {answer: h, request} = await ValgradAPI.hessian(body.function, body.args, body.params);
      if (!current()) return;
      $("curl-hessian").textContent = ValgradAPI.curlCommand(request.body, request.path);
      renderHessian(h, names);
      $("hessian-note").textContent = "";
    } catch (e) {
      if (!current()) return;
      const problem = e instanceof ValgradAPI.Problem ? e.problem : {detail: String(e)};
      $("hessian-note").textContent = `No Hessian: ${problem.detail || problem.title}`;
    }
  }

  function clearProblem() {
    $("problem").hidden = true;
    document.querySelectorAll(".bad").forEach((el) => {
      el.classList.remove("bad");
      el.removeAttribute("aria-invalid");
    });
  }

  function renderProblem(problem) {
    const box = $("problem");
    box.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = `${problem.title || "Problem"}${problem.code ? ` (${problem.code})` : ""}`;
    const detail = document.createElement("div");
    detail.textContent = problem.detail || "";
    box.append(title, detail);
    if (problem.pointer) {
      const where = document.createElement("div");
      where.append("at ");
      const code = document.createElement("code");
      code.textContent = problem.pointer;
      where.append(code);
      box.append(where);
    }
    box.hidden = false;
    highlight(problem);
  }

  // The form field a JSON Pointer points into; within an expression, the column the detail names.
  function fieldFor(pointer) {
    const parts = (pointer || "").split("/").slice(1);
    if (parts[0] === "args" && parts.length > 1) {
      const fields = [...$("args").querySelectorAll("input")];
      return fields.find((el, i) => String(i) === parts[1] || el.dataset.name === parts[1]) || $("args");
    }
    if (parts[0] === "params") return $("params");
    if (parts[0] === "function") {
      if (mode() === "graph") return $("graph");
      return parts[1] === "inputs" ? $("inputs") : $("expression");
    }
    return null;
  }

  function highlight(problem) {
    const el = fieldFor(problem.pointer);
    if (!el) return;
    el.classList.add("bad");
    el.setAttribute("aria-invalid", "true");
    if (el === $("expression")) {
      const m = /column (\d+)(?: '([^']*)')?/.exec(problem.detail || "");
      if (m) {
        const start = Number(m[1]);
        el.focus();
        el.setSelectionRange(start, start + Math.max(1, (m[2] || "").length));
      }
    } else if (el.focus) {
      el.focus();
    }
  }

  function renderSnippets(body) {
    $("curl").textContent = ValgradAPI.curlCommand(body);
    $("python").textContent = ValgradAPI.pythonSnippet(body);
  }

  // ------------------------------------------------------------------ evaluate

  async function evaluate() {
    clearProblem();
    let body;
    try {
      body = readBody();
    } catch (e) {
      return fail(e);
    }
    renderSnippets(body);
    $("status").textContent = "evaluating…";
    const mine = ++generation;
    const current = () => mine === generation;  // a later evaluation supersedes this one
    try {
      const answer = await ValgradAPI.valueAndGradients(body);
      if (!current()) return;
      const names = inputNames(body.function);
      renderNumbers(answer, names);
      await Promise.all([showHessian(body, answer, names, current),
                         PlaygroundPlot.update(body, answer, names, $("status"), current)]);
      if (current()) $("status").textContent = "done";
    } catch (e) {
      if (current()) fail(e);
    }
  }

  function fail(e) {
    $("status").textContent = "";
    renderProblem(e instanceof ValgradAPI.Problem ? e.problem : {title: "Error", detail: String(e)});
  }

  // ------------------------------------------------------------------ wiring

  function init() {
    $("graph").value = JSON.stringify(SEED_GRAPH, null, 2);
    syncArgFields(["x", "y"]);
    $("arg-0").value = "2";
    $("arg-1").value = "3";
    document.querySelectorAll("input[name=mode]").forEach((el) => el.addEventListener("change", () => {
      $("expression-mode").hidden = mode() !== "expression";
      $("graph-mode").hidden = mode() !== "graph";
    }));
    $("inputs").addEventListener("input", () => {
      try {
        syncArgFields(inputNames(readFunction()));
      } catch (e) { /* shown on evaluation */ }
    });
    $("editor").addEventListener("submit", (ev) => {
      ev.preventDefault();
      evaluate();
    });
    document.querySelectorAll("[data-copy]").forEach((button) => button.addEventListener("click", () => {
      navigator.clipboard?.writeText($(button.dataset.copy).textContent);
    }));
    PlaygroundPlot.onPick((coords) => {
      coords.forEach((v, i) => { $(`arg-${i}`).value = String(Number(v.toPrecision(4))); });
      evaluate();
    });
    evaluate();
  }

  window.addEventListener("DOMContentLoaded", init);
  window.PlaygroundForm = {evaluate};
})();
