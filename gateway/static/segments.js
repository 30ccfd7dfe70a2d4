// The broadcast composer: a live character and segment count (GSM-7 160/153, UCS-2 70/67),
// as the server counts. Its words come from the page (data-* of #count), in the user's language.
(function () {
  var basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var ext = "^{}\\[~]|€\f";
  var box = document.getElementById("text"), out = document.getElementById("count");
  if (!box || !out) return;
  function count() {
    var chars = Array.from(box.value), gsm = true, units = 0, odd = [];
    chars.forEach(function (c) { if (basic.indexOf(c) < 0 && ext.indexOf(c) < 0) { gsm = false; if (odd.indexOf(c) < 0) odd.push(c); } });
    chars.forEach(function (c) { units += gsm ? (ext.indexOf(c) >= 0 ? 2 : 1) : (c.codePointAt(0) > 0xFFFF ? 2 : 1); });
    var single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    var segments = units <= single ? 1 : Math.ceil(units / part);
    out.textContent = chars.length + " " + out.dataset.characters + ", " + (gsm ? "GSM-7" : "UCS-2") + ", " + segments + " " + out.dataset.segments +
      (gsm ? "" : " — " + out.dataset.ucs + " " + odd.join(" "));
    out.className = gsm ? "muted" : "warn";
  }
  box.addEventListener("input", count); count();
})();
