// Pictor admin: a little vanilla JavaScript, no build step.  Every page works without
// it except the live parts: focal-point preview, URL builder and drag-and-drop upload.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// ---- Focal point picker -------------------------------------------------------------
function setupFocalPicker() {
  const picker = document.getElementById("focal-picker");
  if (!picker) return;
  const marker = document.getElementById("focal-marker");
  const fxInput = document.getElementById("fx");
  const fyInput = document.getElementById("fy");
  const cropImages = document.querySelectorAll("#crops img");
  let pending = null;

  function place(fx, fy) {
    marker.hidden = false;
    marker.style.left = `${fx * 100}%`;
    marker.style.top = `${fy * 100}%`;
  }

  async function refreshCrops(fx, fy) {
    const url = `${picker.dataset.cropsUrl}?fx=${fx}&fy=${fy}`;
    pending = url;
    try {
      const body = await getJson(url);
      if (pending !== url) return; // a newer click won
      body.crops.forEach((crop, index) => { if (cropImages[index]) cropImages[index].src = crop.url; });
    } catch (error) {
      console.error(error);
    }
  }

  function choose(fx, fy) {
    fx = Math.min(1, Math.max(0, Math.round(fx * 10000) / 10000));
    fy = Math.min(1, Math.max(0, Math.round(fy * 10000) / 10000));
    fxInput.value = fx;
    fyInput.value = fy;
    place(fx, fy);
    refreshCrops(fx, fy);
  }

  picker.addEventListener("click", (event) => {
    const box = picker.querySelector("img").getBoundingClientRect();
    choose((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
  });
  picker.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 0.1 : 0.02;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    choose(Number(fxInput.value) + moves[event.key][0], Number(fyInput.value) + moves[event.key][1]);
  });
  for (const input of [fxInput, fyInput]) {
    input.addEventListener("change", () => choose(Number(fxInput.value), Number(fyInput.value)));
  }
  if (picker.dataset.fx !== "" && picker.dataset.fy !== "") {
    place(Number(picker.dataset.fx), Number(picker.dataset.fy));
  }
}

// ---- URL builder --------------------------------------------------------------------
function setupUrlBuilder() {
  const form = document.getElementById("url-builder");
  if (!form) return;
  const output = document.getElementById("built-url");
  const status = document.getElementById("url-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value !== "") params.append(name, value);
    try {
      const body = await getJson(`${form.dataset.url}?${params}`);
      output.value = body.url;
      status.textContent = `Options: ${body.options}`;
      status.className = "muted";
    } catch (error) {
      output.value = "";
      status.textContent = error.message;
      status.className = "error";
    }
  });
  document.getElementById("copy-url").addEventListener("click", async () => {
    if (!output.value) return;
    try {
      await navigator.clipboard.writeText(output.value);
    } catch {
      output.select();
      document.execCommand("copy"); // plain-HTTP pages have no async clipboard
    }
    status.textContent = "Copied.";
  });
}

// ---- Upload -------------------------------------------------------------------------
const PARALLEL_UPLOADS = 2;

function describeResult(status, body) {
  const link = (id) => `<a href="/admin/images/${id}">${id}</a>`;
  if (status === 201) {
    let text = `Added as ${link(body.id)}`;
    if (body.near_duplicates && body.near_duplicates.length) {
      text += `; near-duplicate of ${body.near_duplicates.map((near) => link(near.id)).join(", ")}`;
      return { cls: "warn", html: text, result: "near-duplicate" };
    }
    return { cls: "ok", html: text, result: "added" };
  }
  if (status === 409 && body.id) return { cls: "warn", html: `Duplicate of ${link(body.id)}`, result: "duplicate" };
  const reason = document.createElement("span");
  reason.textContent = body.error || `HTTP ${status}`;
  return { cls: "error", html: `Rejected: ${reason.innerHTML}`, result: "rejected" };
}

function uploadOne(file, row) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    const bar = row.querySelector("progress");
    const result = row.querySelector(".result");
    request.open("POST", "/api/images");
    request.setRequestHeader("X-CSRF-Token", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = event.loaded / event.total;
    });
    request.addEventListener("load", () => {
      bar.value = 1;
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { body = { error: request.statusText }; }
      const outcome = describeResult(request.status, body);
      result.className = `result ${outcome.cls}`;
      result.innerHTML = outcome.html;
      row.dataset.result = outcome.result;
      resolve();
    });
    request.addEventListener("error", () => {
      result.className = "result error";
      result.textContent = "Rejected: the connection failed";
      row.dataset.result = "rejected";
      resolve();
    });
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}

async function uploadAll(files) {
  const list = document.getElementById("uploads");
  const queue = [...files].map((file) => {
    const row = document.createElement("li");
    row.innerHTML = '<span class="name"></span><progress max="1" value="0"></progress><span class="result" aria-live="polite">Waiting…</span>';
    row.querySelector(".name").textContent = file.name;
    row.querySelector("progress").setAttribute("aria-label", `Upload progress of ${file.name}`);
    list.append(row);
    return [file, row];
  });
  const worker = async () => {
    while (queue.length) {
      const [file, row] = queue.shift();
      row.querySelector(".result").textContent = "Uploading…";
      await uploadOne(file, row);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_UPLOADS }, worker));
}

function setupUpload() {
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const input = document.getElementById("files");
  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadAll(event.dataTransfer.files);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupFocalPicker();
  setupUrlBuilder();
  setupUpload();
});
