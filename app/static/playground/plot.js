// The playground's plots (Plotly): a contour with gradient arrows for two scalar inputs, the curve and
// its derivative for one. Values and gradients on the grid come from the service (ValgradAPI.evaluateMany).
"use strict";

const PlaygroundPlot = (() => {
  const el = () => document.getElementById("plot");
  const GRID_2D = 17;     // contour grid points per axis
  const ARROW_EVERY = 2;  // an arrow on every 2nd interior grid point: 8 x 8 arrows
  const GRID_1D = 101;
  const COLOURS = [[0, "#3b4cc0"], [0.5, "#f2f2f2"], [1, "#b40426"]];  // diverging: dark arrows stay visible
  let shown = null;       // {key, kind, names} of the grid on screen
  let pick = () => {};

  const num = (v) => (typeof v === "number" ? v : null);  // "NaN", "Infinity" and errors leave gaps
  const linspace = (a, b, n) => Array.from({length: n}, (_, i) => a + (b - a) * i / (n - 1));

  function box(n) {
    const read = (id) => Number(document.getElementById(id).value);
    const x = [read("xmin"), read("xmax")];
    const y = [read("ymin"), read("ymax")];
    const ok = (r) => r.every(Number.isFinite) && r[0] < r[1];
    return ok(x) && (n === 1 || ok(y)) ? {x, y} : null;
  }

  function note(text) {
    document.getElementById("plot-note").textContent = text;
  }

  function clear(why) {
    shown = null;
    Plotly.purge(el());
    el().replaceChildren();
    el().removeAttribute("data-arrows");
    el().hidden = true;
    note(why);
  }

  async function update(body, answer, names, status, current) {
    const n = body.args.length;
    const scalars = body.args.every((a) => typeof a === "number") && typeof answer.value === "number";
    if (!(n === 1 || n === 2) || !scalars) {
      return clear("Plots are drawn for a scalar function of one or two scalar inputs.");
    }
    const b = box(n);
    if (!b) return clear("Set a plot box with from < to.");
    const key = JSON.stringify([body.function, body.params, b.x, n === 2 ? b.y : null]);
    if (!shown || shown.key !== key) {
      status.textContent = "computing the plot grid…";
      const drawn = await (n === 2 ? contour : curve)(body.function, b, names, current);
      if (!drawn) return;
      shown = {key, kind: n, names};
    }
    if (current()) mark(body.args, answer.value);
  }

  async function contour(fn, b, names, current) {
    const xs = linspace(b.x[0], b.x[1], GRID_2D);
    const ys = linspace(b.y[0], b.y[1], GRID_2D);
    const points = ys.flatMap((y) => xs.map((x) => [x, y]));
    const results = await ValgradAPI.evaluateMany(fn, points, [0, 1]);
    if (!current()) return false;
    const z = ys.map((_, j) => xs.map((_, i) => num(results[j * GRID_2D + i].value)));
    const arrows = [];
    for (let j = 1; j < GRID_2D; j += ARROW_EVERY) {  // interior points: arrows stay inside the axes
      for (let i = 1; i < GRID_2D; i += ARROW_EVERY) {
        const g = results[j * GRID_2D + i].gradients || [];
        arrows.push({x: xs[i], y: ys[j], gx: num(g[0]) ?? 0, gy: num(g[1]) ?? 0});
      }
    }
    // Drawing only: each arrow is centred on its point, along the service's gradient, its length growing
    // with the square root of the gradient's norm so that small ones stay visible next to large ones.
    const longest = Math.max(1e-300, ...arrows.map((a) => Math.hypot(a.gx, a.gy)));
    const room = 0.85 * ARROW_EVERY * Math.min(xs[1] - xs[0], ys[1] - ys[0]);
    const annotations = arrows.map((a) => {
      const norm = Math.hypot(a.gx, a.gy);
      const k = norm > 0 ? room * Math.sqrt(norm / longest) / norm / 2 : 0;
      return {x: a.x + a.gx * k, y: a.y + a.gy * k, ax: a.x - a.gx * k, ay: a.y - a.gy * k, xref: "x", yref: "y",
              axref: "x", ayref: "y", text: "", showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: 1.4,
              arrowcolor: "#1d2330"};
    });
    const traces = [
      {type: "contour", x: xs, y: ys, z, colorscale: COLOURS, ncontours: 18, opacity: 0.9, name: "f",
       colorbar: {title: {text: "f"}, thickness: 14}, hovertemplate: `${names[0]}=%{x}<br>${names[1]}=%{y}<br>f=%{z}<extra></extra>`},
      {type: "scatter", mode: "markers", x: [null], y: [null], name: "point", hoverinfo: "skip",
       marker: {symbol: "x-thin", size: 16, line: {width: 3, color: "#e53935"}}},
    ];
    await draw(traces, {annotations, xaxis: axis(names[0], b.x), yaxis: axis(names[1], b.y), showlegend: false});
    el().dataset.arrows = String(arrows.length);
    note(`Contour of the value on a ${GRID_2D}×${GRID_2D} grid and its gradient as arrows (length: square root ` +
         "of the norm, relative to the largest), all computed by the service. Click the plot to move the point.");
    return true;
  }

  async function curve(fn, b, names, current) {
    const xs = linspace(b.x[0], b.x[1], GRID_1D);
    const results = await ValgradAPI.evaluateMany(fn, xs.map((x) => [x]), [0]);
    if (!current()) return false;
    const f = results.map((r) => num(r.value));
    const df = results.map((r) => num((r.gradients || [])[0]));
    const traces = [
      {type: "scatter", mode: "lines", x: xs, y: f, name: "f", line: {color: "#2454c5", width: 2.5}},
      {type: "scatter", mode: "lines", x: xs, y: df, name: `df/d${names[0]}`, yaxis: "y2",
       line: {color: "#ef6c00", width: 2, dash: "dash"}},
      {type: "scatter", mode: "markers", x: [null], y: [null], name: "point", hoverinfo: "skip",
       marker: {symbol: "x-thin", size: 16, line: {width: 3, color: "#e53935"}}},
    ];
    await draw(traces, {xaxis: axis(names[0], b.x), yaxis: {title: {text: "f"}},
                        yaxis2: {title: {text: `df/d${names[0]}`}, overlaying: "y", side: "right"},
                        legend: {orientation: "h", y: 1.1}});
    el().dataset.arrows = "0";
    note(`The value and its derivative at ${GRID_1D} points, computed by the service. Click the plot to move the point.`);
    return true;
  }

  const axis = (title, range) => ({title: {text: title}, range, zeroline: false});

  function draw(traces, layout) {
    el().hidden = false;  // before drawing: Plotly sizes the plot to its visible container
    return Plotly.react(el(), traces, {margin: {l: 56, r: 20, t: 24, b: 48}, dragmode: false, hovermode: "closest",
                                       ...layout}, {displayModeBar: false, responsive: true});
  }

  function mark(args, value) {
    const [x, y] = shown.kind === 2 ? args : [args[0], value];
    Plotly.restyle(el(), {x: [[x]], y: [[y]]}, [shown.kind === 2 ? 1 : 2]);
    el().dataset.point = JSON.stringify(args);
  }

  // A click inside the axes picks the point under it, in the axes' data coordinates.
  function onClick(ev) {
    const layout = el()._fullLayout;
    if (!shown || !layout) return;
    const size = layout._size;
    const rect = el().getBoundingClientRect();
    const px = ev.clientX - rect.left - size.l;
    const py = ev.clientY - rect.top - size.t;
    if (px < 0 || py < 0 || px > size.w || py > size.h) return;
    const x = layout.xaxis.p2l(px);
    pick(shown.kind === 2 ? [x, layout.yaxis.p2l(py)] : [x]);
  }

  window.addEventListener("DOMContentLoaded", () => el().addEventListener("click", onClick));
  return {update, onPick: (f) => { pick = f; }};
})();
