// trustspace portal: small, optional behaviour.  Every page works without it.
"use strict";

// Upload progress: a form with data-upload sends its files with XMLHttpRequest so the
// <progress> element can show how much has been sent; the server's answer replaces the page.
function wireUploads() {
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) return;
      event.preventDefault();
      var bar = form.querySelector("progress");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (bar && e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
      });
      xhr.addEventListener("load", function () {
        if (xhr.responseURL) { window.location.assign(xhr.responseURL); }
        else { document.open(); document.write(xhr.responseText); document.close(); }
      });
      if (bar) { bar.hidden = false; bar.value = 0; }
      xhr.send(new FormData(form));
    });
  });
}

// Charts: an element with data-chart holds its figure as JSON in a <script type="application/json">
// sibling (no inline script runs); the table beside it stays for screen readers and no-JS.
function drawCharts() {
  if (!window.echarts) return;
  document.querySelectorAll("[data-chart]").forEach(function (box) {
    var source = document.getElementById(box.getAttribute("data-chart"));
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    var chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      aria: { enabled: true },
      tooltip: {},
      grid: { left: 8, right: 8, bottom: 8, top: 24, containLabel: true },
      xAxis: { type: "category", data: spec.labels, axisLabel: { rotate: spec.labels.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", name: spec.unit || "" },
      series: [{ type: spec.kind || "bar", name: spec.name || "", data: spec.values, color: "#0b5cad" }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  wireUploads();
  drawCharts();
});
