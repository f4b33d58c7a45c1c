// Dependency-free bar charts for dashboards (no CDN, CSP-safe: no inline code or styles).
// <div class="chart" data-chart="bar"><span data-label="A" data-value="3"></span>…</div>
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function render(container) {
    var points = Array.prototype.map.call(container.querySelectorAll("span[data-label]"), function (s) {
      return { label: s.getAttribute("data-label"), value: parseFloat(s.getAttribute("data-value")) || 0 };
    });
    if (!points.length) { return; }
    var max = Math.max.apply(null, points.map(function (p) { return p.value; })) || 1;
    var rowH = 22, labelW = 180, width = 640, barW = width - labelW - 60;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + points.length * rowH, width: "100%", role: "img" });
    points.forEach(function (p, i) {
      var y = i * rowH;
      var label = el("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", "font-size": "12", fill: "#374151" });
      label.textContent = p.label.length > 24 ? p.label.slice(0, 23) + "…" : p.label;
      var bar = el("rect", { x: labelW, y: y + 4, height: rowH - 8, width: Math.max(1, (p.value / max) * barW), fill: "#2563eb", rx: "2" });
      var value = el("text", { x: labelW + (p.value / max) * barW + 6, y: y + 15, "font-size": "12", fill: "#111827" });
      value.textContent = String(p.value);
      svg.appendChild(label); svg.appendChild(bar); svg.appendChild(value);
    });
    container.textContent = "";
    container.appendChild(svg);
  }
  function init() { document.querySelectorAll('[data-chart="bar"]').forEach(render); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
