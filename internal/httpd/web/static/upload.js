// Coffer uploads: a small tus 1.0 client (creation, resume, termination) with progress,
// speed and time left, for files chosen with the button, dropped on the page, or whole
// folders. An upload survives network cuts (it retries with backoff, asking the server
// where to resume) and page reloads or a closed laptop (the upload's URL is remembered
// in localStorage per file, so choosing the same file again resumes it).
// No framework, no inline script: the Content-Security-Policy forbids it.
// With data-tus on the #uploads panel (parcels: a draft's files, uploads into a request)
// the files go, by name, to that parcel's tus endpoint instead ("…/uploads", metadata
// "filename"), and resume the same way. Without it, data-put sends each file in one PUT
// to that URL plus its name: a cut upload then starts again from the beginning.
"use strict";

(() => {
  const API = "/api/v1/uploads";
  // One PATCH carries the whole rest of the file: the server keeps every byte that arrives
  // when it is cut, and each PATCH copies what is stored already (docs/api.md), so fewer
  // is better. Progress comes from the request's upload events.
  const PIECE = Number.MAX_SAFE_INTEGER;
  const RETRIES = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];
  const STORE = "coffer.uploads."; // localStorage key prefix

  const panel = document.getElementById("uploads");
  const list = document.getElementById("upload-list");
  const dir = document.body.dataset.dir || "/";
  if (!panel || !list) return;
  // A parcel's tus endpoint takes precedence over its one-PUT endpoint.
  const tus = panel.dataset.tus;
  const put = tus ? undefined : panel.dataset.put;
  const api = tus || API;

  // As the server's pages write sizes (web.go, formatBytes).
  const fmtBytes = (n) => {
    const u = ["B", "kB", "MB", "GB", "TB", "PB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + u[i];
  };
  const fmtTime = (s) => {
    if (!isFinite(s) || s < 0) return "";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  };
  const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  class HTTPError extends Error {
    constructor(status, detail) { super(detail || ("HTTP " + status)); this.status = status; }
  }
  // refused reports whether an answer is a refusal that retrying will not change
  // (permission, quota, a bad or taken name, a revoked link); 409 of a PATCH is not.
  const refused = (status) => status >= 400 && status < 500 && status !== 423 && status !== 429;

  // request sends one tus request with XMLHttpRequest (fetch cannot report upload
  // progress) and resolves with the XHR once the answer is in.
  function request(method, url, headers, body, onProgress, signal) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, url);
      x.setRequestHeader("Tus-Resumable", "1.0.0");
      for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
      if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
      x.onload = () => resolve(x);
      x.onerror = () => reject(new Error("network error"));
      x.onabort = () => reject(new DOMException("cancelled", "AbortError"));
      if (signal) signal.addEventListener("abort", () => x.abort());
      x.send(body);
    });
  }

  function problem(x) {
    try { return JSON.parse(x.responseText).detail; } catch { return x.statusText; }
  }

  class Upload {
    constructor(file, target) {
      this.file = file;
      this.target = target;
      // A parcel's uploads are remembered per parcel or link: the same file may go to several.
      this.key = STORE + [tus ? tus + "|" + target : target, file.size, file.lastModified].join("|");
      this.ctrl = new AbortController();
      this.row = this.render();
      this.samples = [];
    }

    render() {
      const li = document.createElement("li");
      li.className = "upload";
      li.innerHTML = '<div class="upload-head"><span class="upload-name"></span>' +
        '<span class="upload-status"></span><button type="button" class="link upload-cancel">Cancel</button></div>' +
        '<progress max="100" value="0"></progress><div class="upload-meta"></div>';
      li.querySelector(".upload-name").textContent = this.target;
      li.querySelector(".upload-cancel").addEventListener("click", () => this.cancel());
      list.prepend(li);
      panel.hidden = false;
      return li;
    }

    status(text, cls) {
      this.row.querySelector(".upload-status").textContent = text;
      this.row.dataset.state = cls || "";
    }

    progress(done) {
      const now = performance.now();
      this.samples.push([now, done]);
      while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
      const size = this.file.size;
      // Repaint at most five times a second: progress events come far more often.
      if (done < size && now - (this.shown || 0) < 200) return;
      this.shown = now;
      const [t0, d0] = this.samples[0];
      const rate = now > t0 ? (done - d0) / ((now - t0) / 1000) : 0;
      this.row.querySelector("progress").value = size ? (100 * done) / size : 100;
      this.row.querySelector(".upload-meta").textContent =
        fmtBytes(done) + " of " + fmtBytes(size) +
        (rate > 0 ? " · " + fmtBytes(rate) + "/s · " + fmtTime((size - done) / rate) + " left" : "");
    }

    async create() {
      const meta = (tus ? "filename " : "path ") + b64(this.target);
      const x = await request("POST", api, { "Upload-Length": String(this.file.size), "Upload-Metadata": meta }, null, null, this.ctrl.signal);
      if (x.status !== 201) {
        const e = new HTTPError(x.status, problem(x));
        e.final = refused(x.status); // a name that is taken (409) stays taken
        throw e;
      }
      this.url = x.getResponseHeader("Location");
      localStorage.setItem(this.key, this.url);
    }

    async offset() {
      const x = await request("HEAD", this.url, {}, null, null, this.ctrl.signal);
      if (x.status === 404) return -1;
      if (x.status === 409) {
        // A HEAD has no body to say why; the one conflict a HEAD meets is a draft parcel
        // that was sent since the upload began (a closed request's link answers 410).
        // Retrying cannot help.
        const e = new HTTPError(409, "Stopped: the parcel no longer takes files (it was sent meanwhile).");
        e.final = true;
        throw e;
      }
      if (x.status !== 200) throw new HTTPError(x.status, x.status === 410 ? "This link no longer accepts files." : x.statusText);
      return Number(x.getResponseHeader("Upload-Offset"));
    }

    // runPut sends the file in one PUT (data-put mode), again from the start after a
    // network error.
    async runPut() {
      for (let attempt = 0; ; attempt++) {
        try {
          this.status("Uploading");
          const x = await request("PUT", put + encodeURIComponent(this.target),
            { "Content-Type": "application/octet-stream" }, this.file, (n) => this.progress(n), this.ctrl.signal);
          if (x.status !== 201) throw new HTTPError(x.status, problem(x));
          this.progress(this.file.size);
          this.status("Done", "done");
          this.row.querySelector(".upload-cancel").remove();
          return;
        } catch (e) {
          if (e.name === "AbortError") { this.status("Cancelled", "error"); return; }
          if (e instanceof HTTPError && e.status !== 429 && e.status < 500) { this.status(e.message, "error"); return; }
          if (attempt >= RETRIES.length) { this.status("Stopped: " + e.message, "error"); return; }
          this.status("Connection lost; retrying…", "retry");
          await sleep(RETRIES[attempt]);
        }
      }
    }

    async run() {
      if (put) return this.runPut();
      this.status("Starting…");
      this.url = localStorage.getItem(this.key);
      let off = -1;
      let conflicts = 0; // 409s in a row without progress
      for (let attempt = 0; ; attempt++) {
        try {
          if (this.url) off = await this.offset();
          if (off < 0) { await this.create(); off = 0; }
          while (off < this.file.size || (off === 0 && this.file.size === 0)) {
            this.status(off > 0 && attempt > 0 ? "Resuming…" : "Uploading");
            const end = Math.min(off + PIECE, this.file.size);
            const base = off;
            const x = await request("PATCH", this.url,
              { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(off) },
              this.file.slice(off, end), (n) => this.progress(base + n), this.ctrl.signal);
            if (x.status === 409) {
              // The offset moved (another tab, a lost answer): go on from there. Still at
              // the same offset after a few tries, the conflict is not passing (a name
              // taken at completion): say so rather than ask for ever.
              const was = off;
              off = await this.offset();
              if (off < 0) { await this.create(); off = 0; } // it expired meanwhile
              if (off === was && ++conflicts >= 5) {
                const e = new HTTPError(409, problem(x));
                e.final = true;
                throw e;
              }
              await sleep(1000);
              continue;
            }
            if (x.status !== 204) throw new HTTPError(x.status, problem(x));
            off = Number(x.getResponseHeader("Upload-Offset"));
            attempt = 0;
            conflicts = 0;
            this.progress(off);
            // At completion: the file's path (a user's upload) or id (a parcel's).
            if (x.getResponseHeader("X-Coffer-Path") || x.getResponseHeader("X-Coffer-File")) break;
          }
          localStorage.removeItem(this.key);
          this.status("Done", "done");
          this.row.querySelector(".upload-cancel").remove();
          document.dispatchEvent(new CustomEvent("coffer:uploaded", { detail: this.target }));
          return;
        } catch (e) {
          if (e.name === "AbortError") { this.status("Cancelled", "error"); return; }
          // Refusals (permission, quota, a bad name) will not change by retrying.
          if (e instanceof HTTPError && (e.final || (refused(e.status) && e.status !== 409))) {
            localStorage.removeItem(this.key);
            this.status(e.message, "error");
            return;
          }
          if (attempt >= RETRIES.length) { this.status("Stopped: " + e.message + ". Choose the file again to resume.", "error"); return; }
          this.status("Connection lost; retrying…", "retry");
          await sleep(RETRIES[attempt]);
        }
      }
    }

    async cancel() {
      this.ctrl.abort();
      localStorage.removeItem(this.key);
      if (this.url) {
        try { await request("DELETE", this.url, {}, null, null, null); } catch { /* expires anyway */ }
      }
    }
  }

  // queue runs uploads two at a time.
  const queue = [];
  let running = 0;
  function enqueue(file, target) {
    queue.push(new Upload(file, target));
    pump();
  }
  function pump() {
    while (running < 2 && queue.length) {
      const u = queue.shift();
      running++;
      u.run().finally(() => {
        running--;
        pump();
        if (running === 0 && queue.length === 0) {
          document.dispatchEvent(new CustomEvent("coffer:idle", { detail: { failed: list.querySelectorAll("[data-state=error]").length } }));
        }
      });
    }
  }

  // target is where a file goes: its path in the folder, or (a parcel's) its bare name.
  const target = (rel) => (tus || put ? rel.split("/").pop() : (dir.endsWith("/") ? dir : dir + "/") + rel);

  // Files from the button; webkitRelativePath carries the folder structure of a folder pick.
  for (const input of document.querySelectorAll("input[type=file][data-upload]")) {
    const take = () => {
      for (const f of input.files) enqueue(f, target(f.webkitRelativePath || f.name));
      input.value = "";
    };
    input.addEventListener("change", take);
    // The button shows before this (deferred) script has run: on a slow connection files
    // can be chosen before there is a listener. They are sent now instead of ignored.
    if (input.files.length) take();
  }

  // Drag and drop, folders included (walked with the entries API).
  async function walk(entry, prefix) {
    if (entry.isFile) {
      const f = await new Promise((res, rej) => entry.file(res, rej));
      enqueue(f, target(prefix + f.name));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, prefix + entry.name + "/");
      }
    }
  }
  const zone = document.getElementById("drop-zone") || document.body;
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", (e) => { if (e.target === zone) zone.classList.remove("dragging"); });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const items = [...(e.dataTransfer.items || [])];
    if (items.length && items[0].webkitGetAsEntry) {
      for (const it of items) { const en = it.webkitGetAsEntry(); if (en) walk(en, ""); }
    } else {
      for (const f of e.dataTransfer.files) enqueue(f, target(f.name));
    }
  });

  // Leaving the page while uploading: the browser asks first.
  window.addEventListener("beforeunload", (e) => {
    if (running > 0) { e.preventDefault(); e.returnValue = ""; }
  });
})();
