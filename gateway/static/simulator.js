// The phone simulator: dial, answer, hang up, text the service, and watch the inbox. Addresses,
// the CSRF token and its words come from the page (data-* of #sim).
(function () {
  var sim = document.getElementById("sim");
  if (!sim) return;
  var csrf = sim.dataset.csrf, session = null, inputs = [], live = false;
  var screen = document.getElementById("screen"), entry = document.getElementById("entry");
  var phone = document.getElementById("phone");
  // A refusal (400), an expired page (400 CSRF) or the service down (503) is said on the
  // screen, in the page's language, never swallowed.
  function failed(status, body) {
    var why = (body && body.message) || (status >= 500 ? sim.dataset.down : sim.dataset.refused);
    live = false; session = null; inputs = [];
    screen.textContent = sim.dataset.error.replace("{code}", status) + "\n" + why;
    screen.classList.add("failed");
  }
  function post(url, data) {
    data.phone = phone.value;
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(data)}).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) { failed(r.status, body); throw new Error("HTTP " + r.status); }
          screen.classList.remove("failed");
          return body;
        });
      }, function (e) { failed(0, {message: sim.dataset.down}); throw e; });
  }
  function show(reply) {
    live = reply.indexOf("CON ") === 0;
    screen.textContent = reply.replace(/^(CON|END) /, "");
    if (!live) { session = null; inputs = []; }
    entry.value = ""; entry.focus(); setTimeout(refresh, 800);
  }
  document.getElementById("dial").onclick = function () {
    session = null; inputs = [];
    post(sim.dataset.dial, {text: ""}).then(function (r) { session = r.session; show(r.reply); }, function () {});
  };
  function send() {
    if (!live) return;
    inputs.push(entry.value);
    post(sim.dataset.dial, {session: session, text: inputs.join("*")}).then(function (r) { show(r.reply); }, function () {});
  }
  document.getElementById("send").onclick = send;
  entry.addEventListener("keydown", function (e) { if (e.key === "Enter") send(); });
  document.getElementById("hangup").onclick = function () {
    live = false; session = null; inputs = []; screen.textContent = sim.dataset.ended;
    if (voice.session) { post(sim.dataset.voiceHangup, {session: voice.session}).catch(function () {}); }
    voiceStop();
  };
  document.getElementById("clear").onclick = function () { entry.value = entry.value.slice(0, -1); entry.focus(); };
  document.querySelectorAll(".key[data-key]").forEach(function (b) {
    b.onclick = function () { if (voice.session) { voiceKey(b.dataset.key); return; } entry.value += b.dataset.key; entry.focus(); };
  });

  // A voice call (issue 13): the prompts play one after another in <audio>; keys go back as
  // the call's dtmfDigits (one key, or several ended by #); silence is sent after the timeout.
  var audio = document.getElementById("voice-audio"), answerButton = document.getElementById("voice-answer");
  var voice = {session: null, clips: [], digits: 0, timeout: 10, keys: "", timer: null, ringing: null};
  function voiceStop() {
    clearTimeout(voice.timer); audio.pause(); audio.removeAttribute("src");
    voice.session = null; voice.clips = []; voice.keys = ""; answerButton.hidden = true;
  }
  function voicePlay(prompt) {
    clearTimeout(voice.timer);
    voice.session = prompt.session; voice.digits = prompt.digits; voice.timeout = prompt.timeout || 10;
    voice.keys = ""; voice.clips = prompt.clips.slice();
    screen.textContent = prompt.clips.map(function (c) { return c.text; }).join("\n");
    nextClip();
  }
  function nextClip() {
    var clip = voice.clips.shift();
    if (clip && clip.url) { audio.src = clip.url; audio.play().catch(function () { nextClip(); }); return; }
    if (clip) { nextClip(); return; }
    if (!voice.digits) { voiceStop(); screen.textContent += "\n" + sim.dataset.ended; setTimeout(refresh, 800); return; }
    voice.timer = setTimeout(function () { voiceSend(""); }, voice.timeout * 1000);
  }
  audio.addEventListener("ended", nextClip);
  function voiceSend(keys) {
    clearTimeout(voice.timer); audio.pause(); voice.clips = [];
    post(sim.dataset.keys, {session: voice.session, digits: keys}).then(voicePlay, function () { voiceStop(); });
  }
  function voiceKey(key) {
    if (key === "#") { voiceSend(voice.keys); return; }
    voice.keys += key;
    if (voice.keys.length >= voice.digits || key === "*") voiceSend(voice.keys);
  }
  document.getElementById("voice-call").onclick = function () {
    voiceStop(); live = false;
    post(sim.dataset.call, {}).then(voicePlay, function () {});
  };
  document.getElementById("voice-missed").onclick = function () {
    voiceStop(); live = false;
    post(sim.dataset.missed, {}).then(function (r) {
      voice.ringing = r.ringing;
      screen.textContent = r.ringing ? sim.dataset.ringing : sim.dataset.rejected;
      answerButton.hidden = !r.ringing;
      setTimeout(refresh, 800);
    }, function () {});
  };
  answerButton.onclick = function () {
    answerButton.hidden = true;
    post(sim.dataset.answer, {session: voice.ringing}).then(voicePlay, function () {});
  };
  function refresh() {
    fetch(sim.dataset.inbox + "?phone=" + encodeURIComponent(phone.value), {credentials: "same-origin"})
      .then(function (r) { return r.json(); }).then(function (data) {
        var list = document.getElementById("inbox"); list.innerHTML = "";
        (data.messages || []).forEach(function (m) {
          var li = document.createElement("li"); li.textContent = m.body;
          var meta = document.createElement("small"); meta.textContent = " — " + m.at + ", " + (m.status_text || m.status);
          li.appendChild(meta); list.appendChild(li);
        });
      }).catch(function () {});
  }
  document.getElementById("sms-send").onclick = function () {
    var box = document.getElementById("sms");
    post(sim.dataset.sms, {text: box.value}).then(function () { box.value = ""; setTimeout(refresh, 500); }, function () {});
  };
  phone.addEventListener("change", refresh);
  refresh(); setInterval(refresh, 3000);
})();
