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

// provider
// A form with data-files sends each chosen file as the raw body of its own request to the
// upload address (the CSRF token in X-CSRF-Token), one after the other, with the <progress>
// showing the bytes sent of all files; the upload ids become hidden fields of the next form.
function wireFileUploads() {
  document.querySelectorAll("form[data-files]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      if (!window.XMLHttpRequest || !input || !input.files || !input.files.length) return;
      event.preventDefault();
      var files = Array.prototype.slice.call(input.files);
      var bar = form.querySelector("progress");
      var status = form.querySelector("[role=status]");
      var button = form.querySelector("button[type=submit]");
      var next = document.getElementById(form.getAttribute("data-next"));
      var holder = next.querySelector(".upload-ids");
      var token = form.querySelector("input[name=csrf]").value;
      var total = files.reduce(function (n, f) { return n + f.size; }, 0) || 1;
      var before = 0;
      holder.textContent = "";
      bar.max = total;
      bar.value = 0;
      button.disabled = true;
      function one(i) {
        if (i >= files.length) {
          bar.value = total;
          status.textContent = status.getAttribute("data-done") || String(files.length);
          next.hidden = false;
          button.disabled = false;
          next.querySelector("button").focus();
          return;
        }
        var file = files[i];
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.getAttribute("data-files") + "?name=" + encodeURIComponent(file.name));
        xhr.setRequestHeader("X-CSRF-Token", token);
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) bar.value = before + e.loaded;
        });
        xhr.addEventListener("load", function () {
          var answer = {};
          try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = {}; }
          if (xhr.status !== 201 || !answer.upload) {
            status.textContent = file.name + ": " + (answer.error || xhr.status);
            button.disabled = false;
            return;
          }
          var field = document.createElement("input");
          field.type = "hidden";
          field.name = "file";
          field.value = answer.upload + ":" + file.name;
          holder.appendChild(field);
          before += file.size;
          bar.value = before;
          status.textContent = file.name + " ✓ (" + (i + 1) + "/" + files.length + ")";
          one(i + 1);
        });
        xhr.addEventListener("error", function () {
          status.textContent = file.name + ": " + (status.getAttribute("data-failed") || "failed");
          button.disabled = false;
        });
        xhr.send(file);
      }
      one(0);
    });
  });
}

document.addEventListener("DOMContentLoaded", wireFileUploads);
