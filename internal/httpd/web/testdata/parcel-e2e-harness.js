// Test-only harness for static/parcel-e2e.js (parcel_e2e_test.go serves it; it is not
// shipped). Each function returns a promise that the Go test awaits through DevTools.
(function () {
  "use strict";
  const E = window.CofferParcelE2E;
  const fromHex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
  const b64std = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const fail = (what) => { throw new Error(what); };

  // memorySink collects what decrypt writes (small files only).
  function memorySink() {
    const parts = [];
    const s = { closed: false, aborted: false, write: (b) => { parts.push(b.slice()); }, close: () => { s.closed = true; }, abort: () => { s.aborted = true; } };
    s.bytes = () => new Blob(parts).arrayBuffer().then((b) => new Uint8Array(b));
    return s;
  }
  const streamOf = (bytes, step) => new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += step) c.enqueue(bytes.slice(i, i + step));
      c.close();
    },
  });
  async function readAll(stream) {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const plain = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (7 * i + 3) & 255; return b; };

  async function sha() {
    const eq = async (data, splits) => {
      const want = E.hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
      const h = new E.SHA256();
      let o = 0;
      for (const s of splits) { h.update(data.subarray(o, Math.min(o + s, data.length))); o = Math.min(o + s, data.length); }
      h.update(data.subarray(o));
      const got = E.hex(h.digest());
      if (got !== want) fail("SHA-256 of " + data.length + " bytes split " + splits + ": " + got + ", want " + want);
    };
    const abc = new E.SHA256().update(new TextEncoder().encode("abc"));
    if (E.hex(abc.digest()) !== "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") fail("SHA-256 of abc");
    if (E.hex(new E.SHA256().digest()) !== "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") fail("SHA-256 of nothing");
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 65536, 100003]) {
      const d = new Uint8Array(n);
      for (let i = 0; i < n; i += 65536) crypto.getRandomValues(d.subarray(i, i + 65536));
      await eq(d, []);
      await eq(d, [1, 63, 64, 7]);
      await eq(d, [Math.floor(n / 3), 3]);
    }
    return "ok";
  }

  // vectors checks testdata/vectors.json (internal/parcel/e2e) byte for byte.
  async function vectors() {
    const v = await (await fetch("/vectors.json")).json();
    const s = E.parseFragment("#" + v.fragment);
    if (E.b64encode(s) !== v.secret) fail("fragment");
    // One key, one spelling: the same key with nonzero bits past its 256 is refused.
    const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = v.fragment[v.fragment.length - 1];
    const other = v.fragment.slice(0, -1) + abc[abc.indexOf(last) | 1];
    let refused = false;
    try { E.parseFragment("#" + other); } catch (e) { refused = true; }
    if (!refused) fail("a key spelled with nonzero spare bits was accepted: " + other);
    const pp = await E.passphrase(v.passphrase, v.kdf_salt);
    if (E.hex(pp.p) !== v.p || pp.verifier !== v.verifier) fail("passphrase: P " + E.hex(pp.p) + " verifier " + pp.verifier);
    const check = async (k, f) => {
      const m = await E.openMeta(k, f.meta);
      if (m.name !== f.name || m.size !== f.size || m.sha256 !== f.sha256 || m.id !== f.nonce) fail(f.name + ": metadata " + JSON.stringify(m));
      if (await E.sealMeta(k, f, m.nonce) !== f.meta) fail(f.name + ": sealMeta differs");
      const sealed = await E.sealFile(k, new Blob([plain(f.size)]), { name: f.name, nonce: m.nonce });
      if (sealed.meta !== f.meta || sealed.size !== f.size + 32 + 16 * Math.max(1, Math.ceil(f.size / 65536))) fail(f.name + ": sealFile meta or size");
      const bytes = await readAll(sealed.stream());
      if (E.b64encode(bytes) !== E.b64encode(b64std(f.sealed))) fail(f.name + ": the sealed bytes differ from the Go side's");
      const sink = memorySink();
      await E.decrypt(k, m, streamOf(b64std(f.sealed), 1000), sink);
      const got = await sink.bytes();
      if (!sink.closed || E.b64encode(got) !== E.b64encode(plain(f.size))) fail(f.name + ": decrypt");
    };
    const k = await E.keys(s, pp.p);
    for (const f of v.files) await check(k, f);
    await check(await E.keys(s, null), v.no_passphrase);
    const man = await E.openManifest(k, v.manifest.sealed);
    if (man.message !== v.manifest.message || JSON.stringify(man.files) !== JSON.stringify(v.manifest.files)) fail("manifest");
    const iv = E.b64decode(v.manifest.sealed).slice(0, 12);
    if (await E.sealManifest(k, v.manifest, iv) !== v.manifest.sealed) fail("sealManifest differs");
    return "ok";
  }

  async function opfsDir() {
    return navigator.storage.getDirectory();
  }

  async function keysOf(fragment, p) {
    return E.keys(E.parseFragment(fragment), p ? fromHex(p) : null);
  }

  // decryptFrom fetches url (a sealed stream) and decrypts it as the file of sealed
  // metadata meta into the sink: "opfs" (a file handle, as the save picker gives) or "sw"
  // (a download through the service worker). Returns {ok, code, message, left}; left
  // tells whether an OPFS file of that name remains.
  async function decryptFrom(o) {
    const k = await keysOf(o.fragment, o.p);
    let m;
    try {
      m = await E.openMeta(k, o.meta);
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, left: false };
    }
    const name = o.name || m.name;
    const dir = await opfsDir();
    const sink = o.sink === "sw" ? await E.swSink(name, m.size) : await E.fileSink(await dir.getFileHandle(name, { create: true }));
    const resp = await fetch(o.url);
    try {
      await E.decrypt(k, m, resp.body, sink);
    } catch (e) {
      let left = true;
      try { await dir.getFileHandle(name); } catch (e2) { left = false; }
      return { ok: false, code: e.code, message: e.message, left };
    }
    return { ok: true };
  }

  // receive opens a link as a recipient and saves every file; with sink "opfs" it reads
  // each one back and returns its SHA-256.
  async function receive(o) {
    const base = "/api/v1/p/" + o.token;
    const headers = {};
    let view = await (await fetch(base)).json();
    let p = null;
    if (view.passphrase_required) {
      const d = await E.passphrase(o.passphrase, view.kdf_salt);
      p = d.p;
      const r = await fetch(base + "/unlock", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ passphrase: d.verifier }) });
      if (!r.ok) return { error: "unlock " + r.status + " " + (await r.text()) };
      headers["Coffer-Parcel-Ticket"] = (await r.json()).ticket;
      view = await (await fetch(base, { headers })).json();
    }
    const parcel = await E.openParcel(view, E.parseFragment(o.fragment), p);
    const out = { message: parcel.message, files: [] };
    const dir = await opfsDir();
    for (const f of parcel.files) {
      let progress = 0;
      const sink = o.sink === "sw" ? await E.swSink(f.name, f.size) : await E.fileSink(await dir.getFileHandle(f.name, { create: true }));
      await E.download(parcel.keys, base, f, sink, { headers, onprogress: (d) => { progress = d; } });
      const r = { name: f.name, size: f.size, progress };
      if (o.sink === "opfs") r.sha256 = await E.hashFile(await (await dir.getFileHandle(f.name)).getFile());
      out.files.push(r);
    }
    return out;
  }

  // randomBlob is n random bytes.
  function randomBlob(n) {
    const parts = [];
    for (let i = 0; i < n; i += 1 << 20) {
      const b = new Uint8Array(Math.min(1 << 20, n - i));
      for (let j = 0; j < b.length; j += 65536) crypto.getRandomValues(b.subarray(j, j + 65536));
      parts.push(b);
    }
    return new Blob(parts);
  }

  // send makes an end-to-end send parcel as a signed-in user would (API token), with one
  // file of o.size random bytes, and returns its link and the file's SHA-256.
  async function send(o) {
    const auth = { Authorization: "Bearer " + o.token };
    const secret = E.newSecret();
    const req = { subject: "from the browser", recipients: [], e2e: true };
    let p = null;
    if (o.passphrase) {
      const salt = E.newSalt();
      const d = await E.passphrase(o.passphrase, salt);
      p = d.p;
      req.passphrase = d.verifier;
      req.kdf_salt = E.b64encode(salt);
    }
    const k = await E.keys(secret, p);
    let r = await fetch("/api/v1/parcels", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(req) });
    if (!r.ok) return { error: "create " + r.status + " " + (await r.text()) };
    const parcel = await r.json();
    const blob = randomBlob(o.size);
    const phases = {};
    const up = await E.upload(k, "/api/v1/parcels/" + parcel.id + "/files/", new File([blob], o.name), {
      headers: auth, onprogress: (d, t, phase) => { phases[phase] = d; },
    });
    const manifest = await E.sealManifest(k, { message: o.message, files: [up.id] });
    r = await fetch("/api/v1/parcels/" + parcel.id + "/send", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify({ manifest }) });
    if (!r.ok) return { error: "send " + r.status + " " + (await r.text()) };
    const sent = await r.json();
    return { token: sent.links[0].token, fragment: E.fragment(secret), sha256: await E.hashFile(blob), phases, stored: up.file.size };
  }

  // benchSend sends the file chosen in #pick (a File on disk) as an end-to-end parcel and
  // times each phase (milliseconds from the start to its last progress report).
  async function benchSend(o) {
    const auth = { Authorization: "Bearer " + o.token };
    const file = document.getElementById("pick").files[0];
    const secret = E.newSecret();
    const k = await E.keys(secret, null);
    let r = await fetch("/api/v1/parcels", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify({ subject: "bench", e2e: true, max_downloads: 0 }) });
    const parcel = await r.json();
    const t0 = performance.now(), at = {};
    const up = await E.upload(k, "/api/v1/parcels/" + parcel.id + "/files/", file, { headers: auth, onprogress: (d, t, phase) => { at[phase] = performance.now() - t0; } });
    const total = performance.now() - t0;
    const manifest = await E.sealManifest(k, { message: "", files: [up.id] });
    r = await fetch("/api/v1/parcels/" + parcel.id + "/send", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify({ manifest }) });
    const sent = await r.json();
    return { token: sent.links[0].token, fragment: E.fragment(secret), ms: total, at };
  }

  // benchEncrypt seals the file in #pick and discards the sealed bytes: the cost of
  // hashing and encrypting alone, in milliseconds.
  async function benchEncrypt() {
    const file = document.getElementById("pick").files[0];
    const k = await E.keys(E.newSecret(), null);
    const t0 = performance.now();
    const sealed = await E.sealFile(k, file);
    const t1 = performance.now();
    await sealed.stream().pipeTo(new WritableStream());
    return { hash: t1 - t0, encrypt: performance.now() - t1 };
  }

  // benchReceive times receive().
  async function benchReceive(o) {
    const t0 = performance.now();
    const r = await receive(o);
    if (r.error) throw new Error(r.error);
    return performance.now() - t0;
  }

  // benchFetch downloads a link's first file without decrypting it (the browser's
  // ceiling for the downloads above), in milliseconds.
  async function benchFetch(o) {
    const base = "/api/v1/p/" + o.token;
    const view = await (await fetch(base)).json();
    const t0 = performance.now();
    const r = (await fetch(base + "/files/" + view.files[0].id, { cache: "no-store" })).body.getReader();
    for (;;) { if ((await r.read()).done) break; }
    return performance.now() - t0;
  }

  async function clearOPFS() {
    const dir = await opfsDir();
    for await (const name of dir.keys()) await dir.removeEntry(name);
    return true;
  }

  window.H = { sha, vectors, decryptFrom, receive, send, benchSend, benchEncrypt, benchReceive, benchFetch, clearOPFS };
  document.title = "ready";
})();
