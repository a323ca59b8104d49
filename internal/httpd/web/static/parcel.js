// Coffer parcel pages: reloads a page once its uploads are done (a draft's files, files
// uploaded into a request), and hands an end-to-end encrypted parcel to the optional
// decryption library. No inline script: the Content-Security-Policy forbids it.
"use strict";

(() => {
  document.addEventListener("coffer:idle", (e) => { if (!e.detail.failed) location.reload(); });

  // The hook of end-to-end encryption (docs/parcels.md, "Web pages"): static/parcel-e2e.js,
  // when installed, defines window.CofferParcelE2E and is loaded before this script. It
  // gets the element with data-parcel-e2e, whose data-api is the link's REST API base
  // (/api/v1/p/TOKEN; the passphrase's ticket travels in a cookie) and data-kind its
  // kind; the key is in location.hash (#e1.KEY), which never reaches the server.
  const root = document.querySelector("[data-parcel-e2e]");
  if (root && window.CofferParcelE2E && root.dataset.kind === "send") mountE2E(root, window.CofferParcelE2E);

  // mountE2E turns the page of an end-to-end parcel into its decrypting view: the
  // passphrase (if any) is turned into the verifier here, the file names and message are
  // opened here, and each download is decrypted and checked chunk by chunk into the
  // browser's downloads (a service worker stream), never whole in memory.
  function mountE2E(root, lib) {
    const api = root.dataset.api;
    const el = (tag, props, ...kids) => {
      const e = Object.assign(document.createElement(tag), props || {});
      for (const k of kids) e.append(k);
      return e;
    };
    const status = el("div", { className: "alert", hidden: true, id: "e2e-status" });
    status.setAttribute("role", "status");
    root.append(status);
    const say = (text, kind) => { status.textContent = text; status.className = "alert " + (kind || "info"); status.hidden = false; };
    const fail = (e) => say((e && e.message) || String(e), "error");
    let secret;
    try { secret = lib.parseFragment(location.hash); } catch (e) { fail(e); return; }
    const headers = {};
    const getView = async () => {
      const r = await fetch(api, { headers, cache: "no-store" });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(j.detail || "the parcel cannot be shown (HTTP " + r.status + ")");
      return j;
    };
    const show = async (view, p) => {
      const parcel = await lib.openParcel(view, secret, p);
      for (const old of root.querySelectorAll(".card, .toolbar, .hint, #unlock")) old.hidden = true;
      if (parcel.message) root.append(el("div", { className: "card message", textContent: parcel.message }));
      const body = el("tbody");
      for (const f of parcel.files) {
        const btn = el("button", { type: "button", className: "btn", textContent: "Download" });
        const note = el("span", { className: "muted" });
        btn.addEventListener("click", async () => {
          btn.disabled = true;
          try {
            // The sink first: a save dialog must open within the click.
            const sink = await lib.chooseSink(f.name, f.size, { prefer: "sw" });
            const res = await lib.download(parcel.keys, api, f, sink, {
              headers, onprogress: (done, total) => { note.textContent = " " + Math.floor((100 * done) / Math.max(total, 1)) + " %"; },
            });
            note.textContent = " decrypted, SHA-256 verified";
            say(f.name + ": saved to your downloads (SHA-256 " + res.sha256 + ").", "ok");
          } catch (e) {
            note.textContent = " failed";
            fail(e);
          } finally {
            btn.disabled = false;
          }
        });
        body.append(el("tr", {}, el("td", { className: "name", textContent: f.name }),
          el("td", { className: "num", textContent: f.size + " bytes" }),
          el("td", { className: "mono hide-sm", textContent: f.sha256 }), el("td", {}, btn, note)));
      }
      const head = el("tr", {}, ...["Name", "Size", "SHA-256", "Save"].map((t) => el("th", { scope: "col", textContent: t })));
      root.append(el("div", { className: "card flush" }, el("table", { className: "list", id: "e2e-files" }, el("thead", {}, head), body)));
      say("Decrypted in your browser: the server never had the key.", "ok");
    };
    (async () => {
      const view = await getView();
      if (!view.passphrase_required) return show(view, null);
      const form = document.getElementById("unlock");
      if (!form) throw new Error("this parcel needs its passphrase, but the page has no form for it");
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          say("Checking the passphrase…");
          const { p, verifier } = await lib.passphrase(form.elements.passphrase.value, view.kdf_salt);
          const r = await fetch(api + "/unlock", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ passphrase: verifier }) });
          const j = await r.json().catch(() => ({}));
          if (!r.ok) throw new Error(j.detail || "the passphrase was refused (HTTP " + r.status + ")");
          headers[j.header || "Coffer-Parcel-Ticket"] = j.ticket;
          await show(await getView(), p);
        } catch (e) { fail(e); }
      });
    })().catch(fail);
  }
})();
