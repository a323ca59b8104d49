// Coffer file browser: SHA-256, new folder, rename and delete through the REST
// API (the session cookie authenticates; the server checks the request's origin).
"use strict";

(() => {
  const dir = document.body.dataset.dir || "/";
  const api = "/api/v1";
  const enc = (p) => p.split("/").map(encodeURIComponent).join("/");

  async function call(method, url, body) {
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail || detail; } catch { /* not JSON */ }
      throw new Error(detail);
    }
    return r;
  }

  // Dialogs: buttons with data-dialog open one, data-close closes it.
  const open = (id) => { const d = document.getElementById(id); d.querySelector(".alert").hidden = true; d.showModal(); return d; };
  for (const b of document.querySelectorAll("[data-dialog]")) b.addEventListener("click", () => open(b.dataset.dialog));
  for (const b of document.querySelectorAll("dialog [data-close]")) b.addEventListener("click", () => b.closest("dialog").close());

  // The row buttons: one listener for the whole listing (a page has up to 250 rows).
  let target = "";
  document.querySelector("#listing")?.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    const row = b && b.closest("tr[data-path]");
    if (!row) return;
    if (b.hasAttribute("data-rename")) {
      target = row.dataset.path;
      const d = open("rename-dialog");
      const input = d.querySelector("input[name=to]");
      input.value = target;
      input.focus();
      input.setSelectionRange(target.lastIndexOf("/") + 1, target.length);
    } else if (b.hasAttribute("data-delete")) {
      target = row.dataset.path;
      const d = open("delete-dialog");
      d.querySelector("[data-target]").textContent = target;
      d.dataset.isdir = row.dataset.isdir === "true";
    } else if (b.hasAttribute("data-sha")) {
      open("sha-dialog").querySelector("[data-target]").textContent = b.dataset.sha;
    }
  });

  const actions = {
    mkdir: (f) => call("POST", api + "/dirs" + enc((dir.endsWith("/") ? dir : dir + "/") + f.name.value)),
    rename: (f) => call("POST", api + "/move", { from: target, to: f.to.value }),
    delete: (f) => call("DELETE", api + "/files" + enc(target) + (f.closest("dialog").dataset.isdir === "true" ? "?recursive=true" : "")),
  };
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const err = form.querySelector(".alert");
      try {
        await actions[form.dataset.api](form);
        location.reload();
      } catch (x) {
        err.textContent = x.message;
        err.hidden = false;
      }
    });
  }

  // When the uploads are done, show the new files (unless one failed: keep its message).
  document.addEventListener("coffer:idle", (e) => { if (!e.detail.failed) location.reload(); });
})();
