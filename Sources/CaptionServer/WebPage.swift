/// `GET /`: one self-contained page (no external assets, no build step) to try the service:
/// choose or drop an image, read the caption and the beam's alternatives, and see, word by word,
/// where an attention model looked, drawn over the crop the encoder saw.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Captioner</title>
<style>
  body { font: 16px/1.45 system-ui, sans-serif; margin: 0; background: #f4f4f1; color: #1d1d1b; }
  main { max-width: 980px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 16px; }
  #drop { border: 2px dashed #8a8a80; border-radius: 10px; padding: 22px; text-align: center; background: #fff; cursor: pointer; }
  #drop.over { border-color: #2f6fde; background: #eef4ff; }
  .controls { display: flex; gap: 16px; align-items: center; margin: 12px 0; flex-wrap: wrap; }
  .controls label { font-size: 14px; }
  .controls input[type=number] { width: 4em; }
  .result { display: flex; gap: 24px; margin-top: 16px; flex-wrap: wrap; }
  canvas { background: #ddd; border-radius: 6px; max-width: 100%; }
  #caption { font-size: 24px; font-weight: 600; margin: 0 0 8px; min-height: 1.4em; }
  #words button { font: inherit; margin: 2px; padding: 2px 8px; border: 1px solid #bbb; border-radius: 12px; background: #fff; cursor: pointer; }
  #words button.on { background: #2f6fde; color: #fff; border-color: #2f6fde; }
  #alternatives { padding-left: 20px; }
  #error { color: #b00020; font-weight: 600; }
  #timing, .muted { color: #666; font-size: 13px; }
</style>
</head>
<body>
<main>
  <h1>Captioner</h1>
  <div id="drop">Drop a JPEG or PNG here, or <u>choose a file</u>
    <input id="file" type="file" accept="image/jpeg,image/png" hidden>
  </div>
  <div class="controls">
    <label>Beam <input id="beam" type="number" min="1" max="10" value="3"></label>
    <label>Max words <input id="maxWords" type="number" min="1" max="100" value="20"></label>
    <span id="status" class="muted"></span>
  </div>
  <div id="error" role="alert"></div>
  <div class="result">
    <canvas id="view" width="336" height="336"></canvas>
    <div style="flex: 1; min-width: 280px">
      <p id="caption"></p>
      <div id="words"></div>
      <p id="sentinel" class="muted"></p>
      <h3>Alternatives</h3>
      <ol id="alternatives"></ol>
      <p id="timing"></p>
    </div>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const view = $("view"), ctx = view.getContext("2d");
let image = null, reply = null;

$("drop").addEventListener("click", () => $("file").click());
$("file").addEventListener("change", (e) => { if (e.target.files[0]) send(e.target.files[0]); });
for (const kind of ["dragenter", "dragover"]) $("drop").addEventListener(kind, (e) => { e.preventDefault(); $("drop").classList.add("over"); });
for (const kind of ["dragleave", "drop"]) $("drop").addEventListener(kind, (e) => { e.preventDefault(); $("drop").classList.remove("over"); });
$("drop").addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]); });

async function send(file) {
  $("error").textContent = ""; $("caption").textContent = ""; $("words").textContent = "";
  $("alternatives").textContent = ""; $("timing").textContent = ""; $("sentinel").textContent = "";
  $("status").textContent = "captioning " + file.name + "…";
  image = await loadImage(file);
  reply = null;
  draw(null);
  const query = new URLSearchParams({ beam: $("beam").value, max_words: $("maxWords").value, attention: "true" });
  try {
    const response = await fetch("/v1/captions?" + query, { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
    const body = await response.json();
    $("status").textContent = "";
    if (!response.ok) { $("error").textContent = body.error || ("HTTP " + response.status); return; }
    show(body);
  } catch (error) {
    $("status").textContent = "";
    $("error").textContent = "The server did not answer: " + error;
  }
}

function loadImage(file) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null);
    img.src = URL.createObjectURL(file);
  });
}

function show(body) {
  reply = body;
  $("caption").textContent = body.caption || "(empty caption)";
  $("caption").dataset.done = "1";
  for (const alternative of body.alternatives) {
    const item = document.createElement("li");
    item.textContent = alternative.caption + "  (" + (alternative.score === null ? "?" : alternative.score.toFixed(3)) + ")";
    $("alternatives").appendChild(item);
  }
  const t = body.timing;
  $("timing").textContent = `total ${t.total_ms.toFixed(1)} ms · image ${t.image_ms.toFixed(1)} · queue ${t.queue_ms.toFixed(1)} · encoder ${t.encode_ms.toFixed(1)} · decoder ${t.decode_ms.toFixed(1)} · batch of ${t.batch_size}`;
  if (body.attention && body.attention.words.length) {
    body.attention.words.forEach((w, i) => {
      const button = document.createElement("button");
      button.textContent = w.word;
      button.addEventListener("mouseenter", () => select(i));
      button.addEventListener("click", () => select(i));
      $("words").appendChild(button);
    });
    select(0);
  } else {
    $("sentinel").textContent = "This model has no attention map (show-tell); the whole image informs every word.";
    draw(null);
  }
}

function select(index) {
  [...$("words").children].forEach((b, i) => b.classList.toggle("on", i === index));
  const word = reply.attention.words[index];
  $("sentinel").textContent = word.sentinel === null || word.sentinel === undefined ? ""
    : `β = ${word.sentinel.toFixed(2)}: "${word.word}" came ${Math.round(word.sentinel * 100)}% from the language model, ${Math.round((1 - word.sentinel) * 100)}% from the image.`;
  draw(word);
}

// Draws the center crop the encoder saw (torchvision's Resize + CenterCrop), then the word's
// attention grid over it, smoothed by the browser's own image scaling.
function draw(word) {
  ctx.clearRect(0, 0, view.width, view.height);
  if (!image) return;
  const fraction = reply && reply.attention ? reply.attention.crop_fraction : 224 / 256;
  const side = Math.min(image.naturalWidth, image.naturalHeight) * fraction;
  const sx = (image.naturalWidth - side) / 2, sy = (image.naturalHeight - side) / 2;
  ctx.drawImage(image, sx, sy, side, side, 0, 0, view.width, view.height);
  if (!word) return;
  const { rows, columns } = reply.attention;
  const cells = document.createElement("canvas");
  cells.width = columns; cells.height = rows;
  const heat = cells.getContext("2d").createImageData(columns, rows);
  const peak = Math.max(...word.grid.flat(), 1e-9);
  word.grid.flat().forEach((weight, i) => {
    const v = weight / peak;
    heat.data.set([255, Math.round(200 * (1 - v)), 0, Math.round(40 + 175 * v)], i * 4);
  });
  cells.getContext("2d").putImageData(heat, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true;
  ctx.globalAlpha = 0.6;
  ctx.drawImage(cells, 0, 0, view.width, view.height);
  ctx.restore();
}
</script>
</body>
</html>
"""#
}
