// bpnn serve: draw on the pad (pointer events: mouse, pen, touch) or drop/upload an image; the server normalises it
// the way the training digits were made and answers with the top classes, what the network saw and its hidden units.
"use strict";

const DEBOUNCE_MS = 120;   // wait this long after the last stroke movement before asking
const MAX_WAIT_MS = 400;   // but ask at least this often while a stroke goes on
const STROKE = 0.065;      // pen width as a fraction of the pad

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const seen = document.getElementById("seen");
const answer = document.getElementById("answer");
const top3 = document.getElementById("top");
const message = document.getElementById("message");
const units = document.getElementById("units");
const hiddenLayer = document.getElementById("hidden-layer");

let drawing = false, last = null, dirty = false;
let timer = null, firstWait = 0, encoding = false, inFlight = 0, again = false, generation = 0;

function setState() {  // "idle" once every answer asked for has been shown (the tests wait for it)
  document.body.dataset.state = encoding || inFlight > 0 || timer !== null || again ? "busy" : "idle";
}

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  generation += 1;  // answers to earlier requests are no longer about this pad
  clearTimeout(timer); timer = null; again = false;
  showEmpty("");
  setState();
}

function showEmpty(text) {
  answer.textContent = "";
  top3.replaceChildren();
  units.replaceChildren();
  hiddenLayer.textContent = "";
  message.textContent = text;
  drawSeen(null);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return { x: (event.clientX - box.left) * pad.width / box.width, y: (event.clientY - box.top) * pad.height / box.height };
}

function stroke(from, to) {
  ctx.strokeStyle = "#111";
  ctx.lineWidth = STROKE * pad.width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  dirty = true;
}

pad.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;  // the main button, a pen's tip or a finger
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  last = point(event);
  stroke(last, last);
  schedule();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of coalesced.length ? coalesced : [event]) {
    const p = point(e);
    stroke(last, p);
    last = p;
  }
  schedule();
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    askNow();
  });
}

function schedule() {
  const now = performance.now();
  if (timer === null) firstWait = now;
  clearTimeout(timer);
  timer = setTimeout(askNow, now - firstWait > MAX_WAIT_MS ? 0 : DEBOUNCE_MS);
  setState();
}

function askNow() {
  clearTimeout(timer); timer = null;
  if (!dirty) { setState(); return; }
  if (encoding || inFlight > 0) { again = true; setState(); return; }  // one request at a time; the latest pad follows
  encoding = true;
  setState();
  pad.toBlob((blob) => { encoding = false; send(blob, "image/png"); }, "image/png");
}

function send(body, type) {
  const mine = generation;
  inFlight += 1;
  setState();
  fetch("/predict", { method: "POST", headers: type ? { "Content-Type": type } : {}, body })
    .then(async (response) => {
      let data;
      try { data = await response.json(); } catch { data = { error: `the server answered ${response.status} without JSON` }; }
      if (mine !== generation) return;
      if (!response.ok) showError(data.error || `the server answered ${response.status}`);
      else show(data);
    })
    .catch((err) => { if (mine === generation) showError(`the server did not answer (${err.message}); is bpnn serve still running?`); })
    .finally(() => {
      inFlight -= 1;
      if (again && inFlight === 0) { again = false; askNow(); } else setState();
    });
}

function showError(text) {
  showEmpty(text);
}

function show(data) {
  message.textContent = "";
  if (!data.ink) { showEmpty("The image holds no ink: draw a digit."); return; }
  answer.textContent = data.class;
  top3.replaceChildren(...data.top.map((row) => {
    const item = document.createElement("li");
    item.dataset.class = row.class;
    const label = Object.assign(document.createElement("span"), { className: "label", textContent: row.class });
    const track = Object.assign(document.createElement("span"), { className: "track" });
    const fill = Object.assign(document.createElement("span"), { className: "fill" });
    fill.style.width = `${(100 * row.probability).toFixed(1)}%`;
    track.append(fill);
    const value = Object.assign(document.createElement("span"), { className: "value", textContent: `${(100 * row.probability).toFixed(1)}%` });
    item.append(label, track, value);
    return item;
  }));
  drawSeen(data.seen);
  showUnits(data.hidden);
}

function paint(canvas, rows, colour) {
  const height = rows.length, width = rows[0].length;
  canvas.width = width; canvas.height = height;
  const image = canvas.getContext("2d").createImageData(width, height);
  rows.flat().forEach((v, i) => image.data.set([...colour(v), 255], 4 * i));
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function drawSeen(rows) {
  if (!rows) { seen.getContext("2d").clearRect(0, 0, seen.width, seen.height); return; }
  paint(seen, rows, (v) => { const g = Math.round(255 * Math.min(1, Math.max(0, v))); return [g, g, g]; });
}

function showUnits(hidden) {
  units.replaceChildren();
  if (!hidden) { hiddenLayer.textContent = "This model has no hidden layer."; return; }
  hiddenLayer.textContent = `${hidden.layer}; each picture is a unit's incoming weights (orange +, blue -).`;
  for (const unit of hidden.units) {
    const box = Object.assign(document.createElement("div"), { className: "unit" });
    const canvas = document.createElement("canvas");
    paint(canvas, unit.weights, (w) => {
      const a = Math.min(1, Math.abs(w));
      return w >= 0 ? [255, Math.round(255 - 120 * a), Math.round(255 - 255 * a)] : [Math.round(255 - 255 * a), Math.round(255 - 120 * a), 255];
    });
    box.append(canvas, `unit ${unit.unit}: ${unit.activation.toFixed(2)}`);
    units.append(box);
  }
}

function useFile(file) {
  if (!file) return;
  clearPad();
  createImageBitmap(file).then((bitmap) => {
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const w = bitmap.width * scale, h = bitmap.height * scale;
    ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  }).catch(() => {});  // the server says what is wrong with a file the browser cannot show
  const form = new FormData();
  form.append("image", file, file.name);
  send(form, null);  // a multipart form: the server names the file in its messages
}

document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("file").addEventListener("change", (event) => { useFile(event.target.files[0]); event.target.value = ""; });
pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("dropping"); });
pad.addEventListener("dragleave", () => pad.classList.remove("dropping"));
pad.addEventListener("drop", (event) => {
  event.preventDefault();
  pad.classList.remove("dropping");
  useFile(event.dataTransfer.files[0]);
});

fetch("/model").then((r) => r.json()).then((info) => {
  const [height, width] = info.image_shape;
  seen.width = width; seen.height = height;
  document.getElementById("seen-size").textContent = `(normalised, ${height}x${width})`;
  const accuracy = info.test_accuracy === null ? "" : `, ${(100 * info.test_accuracy).toFixed(1)}% on its test digits`;
  document.getElementById("model-info").textContent =
    `${info.model}: ${info.sizes.join("-")} network (${info.activations.join(", ") || "no hidden layer"}), `
    + `${info.dataset || "images"} ${height}x${width}${accuracy}`;
}).catch(() => { document.getElementById("model-info").textContent = "the model information did not load"; });

clearPad();
