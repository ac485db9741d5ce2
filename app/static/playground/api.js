// The service calls behind the playground, and the request shown as curl and Python.
// Every number the page shows comes back from these calls; nothing here computes a function.
"use strict";

const ValgradAPI = (() => {
  const root = document.body.dataset.root || "";
  const CONCURRENCY = 8;  // registered calls in flight when there is no batch endpoint

  class Problem extends Error {
    constructor(problem) {
      super(problem.detail || problem.title || "request failed");
      this.problem = problem;
    }
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(root + path, {
        method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new Problem({title: "Service unreachable", code: "network", detail: String(e)});
    }
    const text = await response.text();
    let payload;
    try {
      payload = JSON.parse(text);
    } catch (e) {
      payload = {title: response.statusText, detail: text.slice(0, 300)};
    }
    if (!response.ok) {
      throw new Problem({status: response.status, code: `http_${response.status}`, ...payload});
    }
    return payload;
  }

  const valueAndGradients = (body) => post("/v1/value-and-gradients", body);
  const register = async (fn) => (await post("/v1/functions", {function: fn})).id;
  const path = (fid) => `/v1/functions/${encodeURIComponent(fid)}`;

  // The Hessian at one point, by the registered function's hessian endpoint (registering again once if
  // this replica forgot it). Returns {answer, request: {path, body}}, the request the curl command shows.
  async function hessian(fn, args, params) {
    for (let attempt = 0; ; attempt++) {
      const request = {path: `${path(await register(fn))}/hessian`, body: {args, params}};
      try {
        return {answer: await post(request.path, request.body), request};
      } catch (e) {
        if (!(e instanceof Problem) || e.problem.code !== "unknown_function" || attempt > 0) throw e;
      }
    }
  }

  // One evaluation per argument list, by the batch endpoint when the service has it, else by registered
  // calls (re-registering once if this replica forgot the function). Items that fail come back as
  // {error: problem}, as the batch endpoint returns them.
  async function evaluateMany(fn, argLists, params) {
    let id = await register(fn);
    try {
      const requests = argLists.map((args) => ({args}));
      const answer = await post(`${path(id)}/batch/value-and-gradients`, {params, requests});
      return answer.results;
    } catch (e) {
      if (!(e instanceof Problem) || ![404, 405].includes(e.problem.status) ||
          e.problem.code === "unknown_function") {
        throw e;
      }
    }
    const results = new Array(argLists.length);
    let next = 0;
    async function worker() {
      while (next < argLists.length) {
        const i = next++;
        results[i] = await one(argLists[i]);
      }
    }
    async function one(args) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await post(`${path(id)}/value-and-gradients`, {args, params});
        } catch (e) {
          if (!(e instanceof Problem)) throw e;
          if (e.problem.code === "unknown_function" && attempt === 0) {
            id = await register(fn);
            continue;
          }
          if (e.problem.status === 422) return {error: e.problem};
          throw e;
        }
      }
    }
    await Promise.all(Array.from({length: CONCURRENCY}, worker));
    return results;
  }

  function serviceURL() {
    return window.location.origin + root;
  }

  function curlCommand(body, where = "/v1/value-and-gradients") {
    const json = JSON.stringify(body).replaceAll("'", "'\\''");
    return `curl -s ${serviceURL()}${where} \\\n  -H 'Content-Type: application/json' \\\n` +
      `  -d '${json}'`;
  }

  function pyLiteral(v) {
    if (v === null || v === undefined) return "None";
    if (v === true) return "True";
    if (v === false) return "False";
    if (typeof v === "number") return Number.isInteger(v) ? `${v}.0` : String(v);
    if (typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(pyLiteral).join(", ")}]`;
    return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(", ")}}`;
  }

  // A text expression as a NumPy function body: the ops it calls by name become np.<name>.
  function numpyExpression(fn) {
    const inputs = new Set(fn.inputs);
    return fn.expression.replace(/(^|[^\w.])([A-Za-z_]\w*)(?=\s*[(.])/g,
      (m, before, name) => (inputs.has(name) ? m : `${before}np.${name}`));
  }

  // Python that asks for the same numbers: the request as sent, then the Hessian by hessian_function(f).
  function pythonSnippet(body) {
    const fn = body.function;
    const params = body.params === undefined ? "" : `, params=${pyLiteral(body.params)}`;
    const expression = fn && typeof fn.expression === "string" && Array.isArray(fn.inputs) &&
      fn.inputs.every((x) => typeof x === "string");
    const hessian = expression ? [
      "",
      `    def f(${fn.inputs.join(", ")}):`,
      `        return ${numpyExpression(fn)}`,
      "",
      `    hessian = client.hessian_function(f${params})`,
      `    value, gradients, H = hessian(${body.args.map(pyLiteral).join(", ")})`,
      "print(value, gradients, H)",
    ] : ["# the Hessian of a Python function f: client.hessian_function(f)(*args) -> (value, gradients, H)"];
    return [
      ...(expression ? ["import numpy as np"] : []),
      "import valgrad",
      "",
      `with valgrad.Client(${JSON.stringify(serviceURL())}) as client:`,
      `    function = ${pyLiteral(fn)}`,
      `    value, gradients = client.value_and_gradients(function, ${pyLiteral(body.args)}${params})`,
      ...(expression ? [] : ["print(value, gradients)"]),
      ...hessian,
    ].join("\n");
  }

  return {Problem, valueAndGradients, evaluateMany, hessian, curlCommand, pythonSnippet};
})();
