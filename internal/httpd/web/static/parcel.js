// Coffer parcel pages: reloads a page once its uploads are done (a draft's files, files
// uploaded into a request), and hands an end-to-end encrypted parcel to the optional
// decryption library. No inline script: the Content-Security-Policy forbids it.
"use strict";

(() => {
  document.addEventListener("coffer:idle", (e) => { if (!e.detail.failed) location.reload(); });

  const el = (tag, props, ...kids) => {
    const e = Object.assign(document.createElement(tag), props || {});
    for (const k of kids) e.append(k);
    return e;
  };
  // As the server's pages write sizes (web.go, formatBytes): 999 B, 1.5 kB, 12 MB.
  const fmtBytes = (n) => {
    const u = ["B", "kB", "MB", "GB", "TB", "PB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + " " + u[i];
  };

  // The hook of end-to-end encryption (docs/parcels.md, "Web pages"): static/parcel-e2e.js,
  // when installed, defines window.CofferParcelE2E and is loaded before this script. It
  // gets the element with data-parcel-e2e, whose data-api is the link's REST API base
  // (/api/v1/p/TOKEN; the passphrase's ticket travels in a cookie) and data-kind its
  // kind; the key is in location.hash (#e1.KEY), which never reaches the server.
  const root = document.querySelector("[data-parcel-e2e]");
  if (root && window.CofferParcelE2E && root.dataset.kind === "send") mountE2E(root, window.CofferParcelE2E);
  const sendForm = document.getElementById("new-parcel");
  if (sendForm && window.CofferParcelE2E && document.getElementById("e2e")) mountSendE2E(sendForm, window.CofferParcelE2E);

  // mountSendE2E makes the send form encrypt end to end when its "End-to-end encrypted"
  // box is checked (docs/parcels.md, "Web pages"): the page does what `coffer send --e2e`
  // does, through the REST API with the session cookie. It makes the link secret S (and
  // the passphrase's salt, P and verifier), creates the draft, seals and uploads each
  // file, seals the manifest (with the message), sends, and shows the links with their
  // #e1.KEY fragment, which the server never sees. The form itself is never posted then:
  // the server refuses a posted form with the box checked (no JavaScript: no plain text).
  function mountSendE2E(form, lib) {
    const box = document.getElementById("e2e");
    const pickBox = document.getElementById("e2e-pick-box");
    const pick = document.getElementById("e2e-pick");
    const submit = form.querySelector("button[type=submit]");
    const hint = document.getElementById("send-hint");
    const plainLabel = submit.textContent, plainHint = hint.textContent;
    const sync = () => {
      pickBox.hidden = !box.checked;
      pick.required = box.checked;
      submit.textContent = box.checked ? "Encrypt and send" : plainLabel;
      hint.textContent = box.checked ? hint.dataset.e2e : plainHint;
    };
    box.addEventListener("change", sync);
    sync();
    const card = form.closest(".card");
    const say = (text) => {
      let a = document.getElementById("e2e-error");
      if (!a) {
        a = el("div", { className: "alert error", id: "e2e-error" });
        a.setAttribute("role", "alert");
        card.before(a);
      }
      a.textContent = text;
      a.hidden = !text;
    };
    const call = async (method, url, body) => {
      const r = await fetch(url, { method, cache: "no-store", headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(j.detail || j.title || "the server answered " + r.status);
      return j;
    };
    form.addEventListener("submit", (ev) => {
      if (!box.checked) return;
      ev.preventDefault();
      const controls = [...form.elements].filter((c) => !c.disabled);
      for (const c of controls) c.disabled = true;
      say("");
      send().catch((e) => {
        say(((e && e.message) || String(e)).replace(/^./, (c) => c.toUpperCase()));
        for (const c of controls) c.disabled = false;
      });
    });

    async function send() {
      const v = (name) => form.elements[name].value;
      const files = [...pick.files];
      const pass = v("passphrase");
      const passBytes = new TextEncoder().encode(pass).length;
      if (pass && (passBytes < 8 || passBytes > 1024)) throw new Error("a passphrase must have 8 to 1024 bytes");
      if (!files.length) throw new Error("choose the files to send");
      const names = new Set();
      for (const f of files) {
        lib.checkName(f.name);
        if (names.has(f.name)) throw new Error("two of the chosen files are called " + JSON.stringify(f.name) + ": rename one");
        names.add(f.name);
      }
      const req = {
        kind: "send", subject: v("subject").trim(), e2e: true, notify: form.elements.notify.checked,
        recipients: v("recipients").split(/[,; \t\r\n]+/).filter(Boolean),
        expires_in: Number(v("days")) * 24 + "h", max_downloads: Number(v("downloads")),
      };
      const secret = lib.newSecret();
      let p = null;
      if (pass) {
        const salt = lib.newSalt();
        const d = await lib.passphrase(pass, salt);
        p = d.p;
        req.passphrase = d.verifier;
        req.kdf_salt = lib.b64encode(salt);
      }
      const keys = await lib.keys(secret, p);
      const parcel = await call("POST", "/api/v1/parcels", req);
      try {
        const ids = [];
        for (const f of files) ids.push(await uploadOne(keys, parcel.id, f));
        const manifest = await lib.sealManifest(keys, { message: v("message").replace(/\r\n/g, "\n"), files: ids });
        const sent = await call("POST", "/api/v1/parcels/" + encodeURIComponent(parcel.id) + "/send", { manifest });
        showLinks(sent, lib.fragment(secret));
      } catch (e) {
        // A draft is never seen by anyone; revoking it deletes its files now rather
        // than in 24 hours.
        await call("DELETE", "/api/v1/parcels/" + encodeURIComponent(parcel.id)).catch(() => {});
        throw new Error(((e && e.message) || String(e)) + ". Nothing was sent.");
      }
    }

    // uploadOne seals and uploads one file with a progress row: hashing, encrypting (into
    // the browser's temporary storage) and uploading each take a third of the bar.
    async function uploadOne(keys, id, f) {
      const panel = document.getElementById("uploads");
      const list = document.getElementById("upload-list");
      const status = el("span", { className: "upload-status", textContent: "waiting" });
      const bar = el("progress", { max: 100, value: 0 });
      const meta = el("div", { className: "upload-meta" });
      const row = el("li", { className: "upload" }, el("div", { className: "upload-head" }, el("span", { className: "upload-name", textContent: f.name }), status), bar, meta);
      list.append(row);
      panel.hidden = false;
      const phases = { hash: [0, "hashing"], encrypt: [1, "encrypting"], upload: [2, "uploading"] };
      let shown = 0;
      try {
        const res = await lib.upload(keys, "/api/v1/parcels/" + encodeURIComponent(id) + "/files/", f, {
          onprogress(done, total, phase) {
            const now = performance.now();
            if (done < total && now - shown < 200) return;
            shown = now;
            const [i, word] = phases[phase] || [0, phase];
            bar.value = (100 * (i + (total ? done / total : 1))) / 3;
            status.textContent = word;
            row.dataset.phase = phase;
            meta.textContent = fmtBytes(done) + " of " + fmtBytes(total);
          },
        });
        bar.value = 100;
        status.textContent = "encrypted and uploaded";
        row.dataset.state = "done";
        meta.textContent = fmtBytes(f.size);
        return res.id;
      } catch (e) {
        status.textContent = "failed";
        row.dataset.state = "error";
        throw new Error(f.name + ": " + ((e && e.message) || e));
      }
    }

    function showLinks(sent, frag) {
      const body = document.querySelector("#links tbody");
      for (const l of sent.links || []) {
        const link = location.origin + "/p/" + l.token + "#" + frag;
        const copy = el("button", { type: "button", className: "link", textContent: "Copy" });
        copy.addEventListener("click", () => {
          navigator.clipboard.writeText(link).then(() => { copy.textContent = "Copied"; }, () => { copy.textContent = "Select and copy it"; });
        });
        const cell = el("td", { className: "mono", textContent: link });
        cell.dataset.link = "";
        body.append(el("tr", {}, el("td", { textContent: l.email || "anyone with the link" }), cell, el("td", {}, copy)));
      }
      form.elements.passphrase.value = "";
      card.hidden = true;
      document.getElementById("uploads").hidden = true;
      document.querySelector("main h1").textContent = "Links of “" + sent.subject + "”";
      document.getElementById("e2e-parcel").href = "/parcels/" + encodeURIComponent(sent.id);
      document.getElementById("e2e-sent").hidden = false;
    }
  }

  // mountE2E turns the page of an end-to-end parcel into its decrypting view: the
  // passphrase (if any) is turned into the verifier here, the file names and message are
  // opened here, and each download is decrypted and checked chunk by chunk into the
  // browser's downloads (a service worker stream), never whole in memory.
  function mountE2E(root, lib) {
    const api = root.dataset.api;
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
          el("td", { className: "num", textContent: fmtBytes(f.size), title: f.size + " bytes" }),
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
