// figmine browse page: small plain JavaScript, no build step, no inline handlers (the pages' CSP
// allows scripts from this server only). Text from the corpus or the server is set with textContent.
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var KEY_STORE = "figmine.apiKey";

  // -- search form: leave empty fields out of the URL ------------------------------------------
  var form = document.getElementById("search-form");
  if (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && !el.value && el.type !== "submit") el.disabled = true;
      });
      // re-enable after the navigation started, so "back" shows a usable form
      setTimeout(function () {
        Array.prototype.forEach.call(form.elements, function (el) { el.disabled = false; });
      }, 0);
    });
  }

  // -- concept autocomplete (GET /concepts?prefix=) ------------------------------------------------
  var conceptInput = document.getElementById("f-concept");
  var conceptList = document.getElementById("concept-suggestions");
  if (conceptInput && conceptList) {
    var timer = null;
    conceptInput.addEventListener("input", function () {
      clearTimeout(timer);
      var prefix = conceptInput.value.trim();
      if (prefix.length < 2) return;
      timer = setTimeout(function () {
        fetch(root + "/concepts?" + new URLSearchParams({ prefix: prefix, limit: "10" }))
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (items) {
            conceptList.replaceChildren();
            items.forEach(function (c) {
              var option = document.createElement("option");
              option.value = c.name;
              option.label = c.code + " · " + c.vocab;
              conceptList.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are optional */ });
      }, 200);
    });
  }

  // -- export this query (POST /exports, GET /exports/{id}) ---------------------------------------
  var exportForm = document.getElementById("export-form");
  if (exportForm) setUpExport(exportForm);

  function setUpExport(exportForm) {
    var keyInput = document.getElementById("export-key");
    var button = document.getElementById("export-button");
    var box = document.getElementById("export-status");
    var message = document.getElementById("export-message");
    var progress = document.getElementById("export-progress");
    var fileList = document.getElementById("export-files");
    var filters = JSON.parse(document.getElementById("export-filters").textContent || "{}");
    try { keyInput.value = sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { /* storage disabled */ }

    function show(text, failed) {
      box.hidden = false;
      box.classList.toggle("failed", !!failed);
      message.textContent = text;
    }

    function problemText(response) {
      return response.text().then(function (body) {
        try {
          var p = JSON.parse(body);
          return (p.detail || p.title || ("HTTP " + response.status)) +
            (p.errors ? ": " + p.errors.map(function (e) { return (e.loc || []).join(".") + " " + e.msg; }).join("; ") : "");
        } catch (e) { return "HTTP " + response.status; }
      });
    }

    exportForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var key = keyInput.value.trim();
      fileList.replaceChildren();
      progress.hidden = true;
      if (!key) {
        show("An API key is needed to export: enter the key an operator created for you " +
             "(figmine apikey create NAME); it is sent as the X-API-Key header.", true);
        keyInput.focus();
        return;
      }
      try { sessionStorage.setItem(KEY_STORE, key); } catch (e) { /* storage disabled */ }
      var body = {
        filters: filters,
        format: document.getElementById("export-format").value,
        level: document.getElementById("export-level").value
      };
      var splits = document.getElementById("export-splits").value.trim();
      var dedup = document.getElementById("export-dedup").value;
      if (splits) body.splits = splits;
      if (dedup) body.dedup = dedup;
      button.disabled = true;
      show("Starting the export…");
      fetch(root + "/exports", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-API-Key": key, "Accept": "application/json" },
        body: JSON.stringify(body)
      }).then(function (response) {
        if (response.status === 202 || response.ok) {
          return response.json().then(function (status) { render(status); poll(status.id, key); });
        }
        return problemText(response).then(function (text) {
          var prefix = response.status === 401 || response.status === 403 ? "The API key was refused: " : "The export was not started: ";
          show(prefix + text, true);
          button.disabled = false;
        });
      }).catch(function (err) {
        show("The export was not started: " + err, true);
        button.disabled = false;
      });
    });

    function poll(id, key) {
      fetch(root + "/exports/" + encodeURIComponent(id), { headers: { "X-API-Key": key, "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            return problemText(response).then(function (text) {
              show("Cannot read the export's progress: " + text, true);
              button.disabled = false;
            });
          }
          return response.json().then(function (status) {
            render(status);
            if (status.status === "queued" || status.status === "running") {
              setTimeout(function () { poll(id, key); }, 1000);
            } else {
              button.disabled = false;
              if (status.status === "finished") showFiles(status, key);
            }
          });
        })
        .catch(function (err) {
          show("Cannot read the export's progress: " + err, true);
          button.disabled = false;
        });
    }

    function render(status) {
      var counts = status.total != null ? " — " + (status.done || 0) + " of " + status.total + " records" : "";
      var text = "Export " + status.id + " (" + status.format + ", " + status.level + "): " + status.status + counts;
      if (status.error) text += " — " + status.error;
      show(text, status.status === "failed" || status.status === "interrupted");
      box.setAttribute("data-status", status.status);
      box.setAttribute("data-export-id", String(status.id));
      progress.hidden = false;
      if (status.progress != null) progress.value = status.progress; else progress.removeAttribute("value");
    }

    function showFiles(status, key) {
      fileList.replaceChildren();
      (status.files || []).forEach(function (file) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.className = "export-file";
        link.textContent = file.name + (file.size != null ? " (" + formatBytes(file.size) + ")" : "");
        if (file.download_url) {
          link.href = file.download_url;  // signed for this key: a plain download, streamed to disk
          link.setAttribute("download", file.name.split("/").pop());
        } else {
          link.href = file.url;  // needs the key header: fetched below
          link.addEventListener("click", function (event) {
            event.preventDefault();
            download(file, key, link);
          });
        }
        item.appendChild(link);
        fileList.appendChild(item);
      });
      var hint = document.createElement("li");
      hint.className = "hint";
      hint.textContent = "Links expire; for scripts: curl -H 'X-API-Key: …' -O " + location.origin + root + "/exports/" + status.id + "/files/NAME";
      fileList.appendChild(hint);
    }

    function download(file, key, link) {
      link.setAttribute("aria-busy", "true");
      fetch(file.url, { headers: { "X-API-Key": key } })
        .then(function (response) {
          if (!response.ok) return problemText(response).then(function (text) { throw new Error(text); });
          return response.blob();
        })
        .then(function (blob) {
          var url = URL.createObjectURL(blob);
          var a = document.createElement("a");
          a.href = url;
          a.download = file.name.split("/").pop();
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
        })
        .catch(function (err) { show("Download failed: " + err.message, true); })
        .finally(function () { link.removeAttribute("aria-busy"); });
    }
  }

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    var units = ["KB", "MB", "GB", "TB"];
    var i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + " " + units[i];
  }

  // -- figure page: a panel's box, list entry and subcaptions light up together -----------------
  var page = document.querySelector(".figure-page");
  if (page) {
    var byId = function (id) { return page.querySelectorAll('[data-subfigure-id="' + CSS.escape(id) + '"]'); };
    var byLabel = function (label) {
      return page.querySelectorAll('.panel-box[data-label="' + CSS.escape(label) + '"]');
    };
    var toggle = function (nodes, on) { Array.prototype.forEach.call(nodes, function (n) { n.classList.toggle("active", on); }); };
    page.querySelectorAll("[data-subfigure-id]").forEach(function (node) {
      var id = node.getAttribute("data-subfigure-id");
      node.addEventListener("mouseenter", function () { toggle(byId(id), true); });
      node.addEventListener("mouseleave", function () { toggle(byId(id), false); });
    });
    page.querySelectorAll(".citance").forEach(function (node) {
      var labels = (node.getAttribute("data-panels") || "").split(" ").filter(Boolean);
      var boxes = function () {
        var all = [];
        labels.forEach(function (l) { Array.prototype.push.apply(all, byLabel(l)); });
        return all;
      };
      node.addEventListener("mouseenter", function () { toggle(boxes(), true); });
      node.addEventListener("mouseleave", function () { toggle(boxes(), false); });
    });
  }
})();
