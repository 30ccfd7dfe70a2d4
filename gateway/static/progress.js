// A broadcast's progress page: refresh the numbers every two seconds until everything is
// sent, failed or cancelled. The address to ask comes from the page (data-url of #progress).
(function () {
  var box = document.getElementById("progress");
  if (!box || box.dataset.done === "1") return;
  function tick() {
    fetch(box.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (p) {
      document.getElementById("bar").setAttribute("width", p.percent);
      box.setAttribute("aria-valuenow", p.percent);
      document.getElementById("percent").textContent = p.percent + "%";
      var state = document.getElementById("state");
      if (state) { state.textContent = p.state_text; state.className = "state " + p.state; }
      document.querySelectorAll("#counts td").forEach(function (td) { td.textContent = p.counts[td.dataset.status] || 0; });
      if (!p.done) setTimeout(tick, 2000);
    }).catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 1000);
})();
