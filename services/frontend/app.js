// simpledl page: draw a digit or send a photo, show what the served models answer.
//
// Talks to the gateway through relative URLs (/api/...), so it works wherever the page is
// served from the same origin as the API (the gateway locally, the Ingress in Kubernetes).
// Text from the server or the user is only ever written with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

// ---- talking to the API -------------------------------------------------------------------

// Every error answer of the gateway carries `message`, one sentence for a person, worded in
// services/gateway/errors.py for this page and the notebook's drawing pad alike; the page
// shows it as it is. Only what cannot come from the gateway is worded here: no connection,
// an error page from something in between (a proxy, an Ingress with no gateway behind it).

// POST JSON or a FormData to an API path; resolve to the answer or throw an Error whose
// message can be shown as it is.
async function callApi(path, body) {
  const options = { method: "POST", body };
  if (!(body instanceof FormData)) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (networkError) {
    throw new Error("Could not reach the server. Is the stack still running?");
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (notJson) {
    answer = null;
  }
  if (!response.ok) {
    const message = answer && typeof answer.message === "string" ? answer.message : "";
    const notTheGateway = `The gateway did not answer: HTTP ${response.status} came from ` +
      `a server in between. Is the stack still running?`;
    throw new Error(message.trim() ? message : notTheGateway);
  }
  if (answer === null) {
    throw new Error("The server's answer could not be read.");
  }
  return answer;
}

function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

function percent(p) {
  return `${(100 * p).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1)} %`;
}

// ---- the drawing pad ----------------------------------------------------------------------

const pad = $("pad");
const ink = pad.getContext("2d");
let drawing = false;
let last = null;

function clearPad() {
  ink.fillStyle = "#ffffff";
  ink.fillRect(0, 0, pad.width, pad.height);
  $("digit-result").hidden = true;
  showError($("digit-error"), "");
}

// Pointer position in canvas pixels (the canvas may be displayed at another size).
function position(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * pad.width) / box.width,
    y: ((event.clientY - box.top) * pad.height) / box.height,
  };
}

function stroke(from, to) {
  ink.strokeStyle = "#000000";
  ink.lineWidth = pad.width / 14; // about the stroke width of an MNIST digit
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(from.x, from.y);
  ink.lineTo(to.x, to.y);
  ink.stroke();
}

// Pointer events cover mouse, pen and touch alike.
pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  last = position(event);
  stroke(last, last); // a dot for a tap
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  event.preventDefault();
  const point = position(event);
  stroke(last, point);
  last = point;
});
for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(type, () => {
    drawing = false;
  });
}

// ---- the model choice ---------------------------------------------------------------------

// The choice lists the digit models the gateway serves (GET /api/models): the course's CNN
// and MLP, and any model served beside them (one you trained yourself, say). Each option's
// value is the shortest name a request may use for it. Until the list arrives, or when it
// cannot be had, the choices written in index.html stay (the default model, CNN, MLP).
function modelKind(model) {
  const layers = model.card && model.card.architecture && model.card.architecture.layers;
  if (!Array.isArray(layers)) return "";
  return layers.some((layer) => layer && layer.type === "Conv2D") ? " (convolutional)" : " (dense)";
}

async function listModels() {
  let answer = null;
  try {
    const response = await fetch("/api/models");
    if (response.ok) answer = await response.json();
  } catch (ignored) {
    return; // keep the page's own choices
  }
  const models = answer && Array.isArray(answer.models) ? answer.models : [];
  const digits = models.filter((m) => m && m.task === "digits" && typeof m.name === "string");
  if (!digits.length) return;
  const select = $("model");
  const chosen = select.value;
  const fallback = digits.find((m) => m.default);
  const options = [new Option(fallback ? `default (${fallback.name})` : "default", "")];
  for (const model of digits) {
    const aliases = Array.isArray(model.aliases) ? model.aliases : [];
    const value = typeof aliases[0] === "string" ? aliases[0] : model.name;
    options.push(new Option(model.name + modelKind(model), value));
  }
  select.replaceChildren(...options); // Option() sets text, never HTML
  select.value = options.some((option) => option.value === chosen) ? chosen : "";
}

// ---- digit answers ------------------------------------------------------------------------

function showGrid(canvas, grid, colour) {
  const size = grid.length;
  const context = canvas.getContext("2d");
  const image = context.createImageData(size, size);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, grid[r][c])));
      const i = 4 * (r * size + c);
      image.data[i] = colour[0] * v / 255;
      image.data[i + 1] = colour[1] * v / 255;
      image.data[i + 2] = colour[2] * v / 255;
      image.data[i + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
}

function showBars(probabilities, digit) {
  const list = $("probabilities");
  list.replaceChildren();
  probabilities.forEach((p, d) => {
    const item = document.createElement("li");
    item.dataset.digit = String(d);
    item.dataset.probability = String(p);
    if (d === digit) item.classList.add("top");
    const label = document.createElement("span");
    label.textContent = String(d);
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = percent(p);
    item.append(label, track, value);
    list.append(item);
  });
}

async function predictDigit() {
  const button = $("predict");
  showError($("digit-error"), "");
  button.disabled = true;
  try {
    const request = { image: pad.toDataURL("image/png"), saliency: $("saliency").checked };
    if ($("model").value) request.model = $("model").value;
    const answer = await callApi("/api/digits", request);
    $("digit").textContent = String(answer.digit);
    $("digit-confidence").textContent = `(${percent(answer.probabilities[answer.digit])} sure)`;
    $("digit-model").textContent = answer.model;
    showBars(answer.probabilities, answer.digit);
    showGrid($("seen"), answer.input_image, [255, 255, 255]);
    $("saliency-figure").hidden = !answer.saliency;
    if (answer.saliency) showGrid($("saliency-map"), answer.saliency, [255, 80, 40]);
    $("digit-result").hidden = false;
  } catch (error) {
    $("digit-result").hidden = true;
    showError($("digit-error"), error.message);
  } finally {
    button.disabled = false;
  }
}

$("clear").addEventListener("click", clearPad);
$("predict").addEventListener("click", predictDigit);

// ---- cats ---------------------------------------------------------------------------------

let photoUrl = null;

async function classifyCat(body, photoFile, button) {
  showError($("cat-error"), "");
  button.disabled = true;
  try {
    const answer = await callApi("/api/cats", body);
    $("cat-label").textContent = answer.label;
    $("cat-probability").textContent = `(${percent(answer.probability)} sure)`;
    $("cat-model").textContent = answer.model;
    $("cat-seen").src = answer.input_image; // a data: URL made by the server
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = photoFile ? URL.createObjectURL(photoFile) : null;
    $("cat-photo-figure").hidden = !photoUrl;
    if (photoUrl) $("cat-photo").src = photoUrl;
    $("cat-result").hidden = false;
  } catch (error) {
    $("cat-result").hidden = true;
    showError($("cat-error"), error.message);
  } finally {
    button.disabled = false;
  }
}

$("cat-url-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = $("cat-url").value.trim();
  if (!url) {
    showError($("cat-error"), "Type or paste the address of an image first.");
    return;
  }
  classifyCat({ cat_url: url }, null, $("cat-url-submit"));
});

$("cat-file-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("cat-file").files[0];
  if (!file) {
    showError($("cat-error"), "Choose a photo first.");
    return;
  }
  const form = new FormData();
  form.append("file", file);
  classifyCat(form, file, $("cat-file-submit"));
});

clearPad();
listModels();
