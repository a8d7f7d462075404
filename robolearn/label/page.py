"""The labelling page (one HTML document, no external assets)."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>robolearn labelling</title>
<link rel="icon" href="data:,">
<style>
 body { font-family: sans-serif; margin: 1.5em; background: #fafafa; }
 #question { font-size: 1.3em; margin-bottom: 0.8em; }
 .clips { display: flex; gap: 2em; }
 .clip { text-align: center; }
 .clip video, .clip img { width: 320px; height: 320px; object-fit: contain; background: #222;
   image-rendering: pixelated; }
 .buttons { margin-top: 1em; }
 button { font-size: 1.1em; margin-right: 0.6em; padding: 0.4em 1em; }
 kbd { border: 1px solid #999; border-radius: 3px; padding: 0 0.3em; font-size: 0.85em; }
 #status { margin-top: 0.8em; color: #555; min-height: 1.2em; }
</style>
</head>
<body>
<div id="question">Loading...</div>
<div class="clips">
 <div class="clip"><div>Left</div><div id="left-slot"></div></div>
 <div class="clip"><div>Right</div><div id="right-slot"></div></div>
</div>
<div class="buttons">
 <button id="btn-left" data-choice="left">Left <kbd>&larr;</kbd>/<kbd>a</kbd></button>
 <button id="btn-equal" data-choice="equal">Equal <kbd>&darr;</kbd>/<kbd>s</kbd></button>
 <button id="btn-right" data-choice="right">Right <kbd>&rarr;</kbd>/<kbd>d</kbd></button>
 <button id="btn-skip" data-choice="skip">Skip <kbd>x</kbd></button>
</div>
<div id="progress"></div>
<div id="status"></div>
<script>
"use strict";
const params = new URLSearchParams(window.location.search);
const token = params.get("token") || "";
const labeller = params.get("labeller") || "";
let current = null;
let busy = false;

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

function clip(url, kind) {
  const el = document.createElement(kind === "image" ? "img" : "video");
  if (kind !== "image") {
    el.autoplay = true; el.loop = true; el.muted = true; el.playsInline = true;
  }
  el.src = withToken(url);
  return el;
}

async function loadNext() {
  const response = await fetch(withToken("api/next"));
  if (!response.ok) {
    setStatus("error " + response.status + ": " + await response.text());
    return;
  }
  const data = await response.json();
  document.getElementById("progress").textContent =
    data.labelled + " of " + data.total + " pairs labelled";
  current = data.pair;
  const left = document.getElementById("left-slot"), right = document.getElementById("right-slot");
  left.replaceChildren(); right.replaceChildren();
  if (!current) {
    document.getElementById("question").textContent = "All pairs are labelled. Thank you!";
    document.body.dataset.state = "done";
    return;
  }
  document.getElementById("question").textContent = data.question;
  left.appendChild(clip(current.left_url, current.left_kind));
  right.appendChild(clip(current.right_url, current.right_kind));
  document.body.dataset.pair = current.id;
  document.body.dataset.state = "ready";
}

function setStatus(text) { document.getElementById("status").textContent = text; }

async function answer(choice) {
  if (!current || busy) return;
  busy = true;
  try {
    const response = await fetch(withToken("api/label"), {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({pair_id: current.id, choice: choice, labeller: labeller || null}),
    });
    if (!response.ok) { setStatus("not saved: " + await response.text()); return; }
    setStatus("saved: " + current.id + " = " + choice);
    await loadNext();
  } finally { busy = false; }
}

for (const button of document.querySelectorAll("button[data-choice]")) {
  button.addEventListener("click", () => answer(button.dataset.choice));
}
const KEYS = {ArrowLeft: "left", a: "left", ArrowRight: "right", d: "right",
              ArrowDown: "equal", s: "equal", x: "skip"};
document.addEventListener("keydown", (event) => {
  const choice = KEYS[event.key];
  if (choice) { event.preventDefault(); answer(choice); }
});
loadNext();
</script>
</body>
</html>
"""
