// Draws the overview's charts from the JSON next to them; the page reads fine without it.
(function () {
  "use strict";
  function draw(el) {
    var source = document.getElementById(el.dataset.series);
    if (!source || typeof uPlot === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    el.textContent = "";
    new uPlot({
      width: Math.max(320, el.clientWidth || 800),
      height: 200,
      series: [{}, { label: "succeeded", stroke: "#1b7f3a" }, { label: "failed", stroke: "#b3261e" }],
    }, data, el);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart[data-series]").forEach(draw);
  });
})();
