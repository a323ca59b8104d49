// The browser's side of parcels' end-to-end format, coffer-parcel-1 (docs/parcels.md, "In
// the browser"); internal/parcel/e2e is the same format in Go. WebCrypto does AES-256-GCM,
// HKDF and PBKDF2; SHA-256 of a stream is ours (WebCrypto has no incremental digest). Files
// are read as streams and written chunk by chunk: memory does not grow with a file's size.
// No eval, no inline code: it runs under the pages' strict Content-Security-Policy.
(function () {
  "use strict";

  const enc = new TextEncoder();
  const MAGIC = enc.encode("coffer-parcel-1\n");
  const CHUNK = 65536;
  const SEALED = CHUNK + 16;
  const HEADER = 32;
  const ITERATIONS = 600000;
  const SW_SCOPE = "/static/parcel-e2e-download/";

  // Every failure is an E2EError with a code the page can branch on:
  // "link" (the #e1. key is malformed), "auth" (wrong key or passphrase, or tampered,
  // truncated, extended data), "malformed", "name" (an unsafe file name), "manifest" (the
  // server's files are not the sender's), "http", "aborted", "unsupported".
  class E2EError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "E2EError";
      this.code = code;
    }
  }
  const authError = (why) => new E2EError("auth", "the data failed authentication: a wrong key or passphrase, or it was tampered with" + (why ? " (" + why + ")" : ""));

  // base64url without padding.
  function b64encode(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function b64decode(s) {
    if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new E2EError("malformed", "not unpadded base64url");
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const random = (n) => crypto.getRandomValues(new Uint8Array(n));

  // SHA256 is an incremental SHA-256 (FIPS 180-4): update(bytes) as often as needed, then
  // digest() once.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  class SHA256 {
    constructor() {
      this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.w = new Uint32Array(64);
      this.buf = new Uint8Array(64);
      this.fill = 0;
      this.length = 0; // bytes so far (exact up to 2^53)
    }
    update(data) {
      let i = 0;
      this.length += data.length;
      if (this.fill > 0) {
        const n = Math.min(64 - this.fill, data.length);
        this.buf.set(data.subarray(0, n), this.fill);
        this.fill += n;
        i = n;
        if (this.fill < 64) return this;
        this.blocks(this.buf, 0, 64);
        this.fill = 0;
      }
      const whole = (data.length - i) & ~63;
      this.blocks(data, i, i + whole);
      i += whole;
      this.buf.set(data.subarray(i), 0);
      this.fill = data.length - i;
      return this;
    }
    blocks(d, from, to) {
      const w = this.w, h = this.h;
      let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], h6 = h[6], h7 = h[7];
      for (let p = from; p < to; p += 64) {
        for (let t = 0; t < 16; t++) {
          const j = p + 4 * t;
          w[t] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
        }
        for (let t = 16; t < 64; t++) {
          const a = w[t - 15], b = w[t - 2];
          const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
          const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
          w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
        }
        let a = h0, b = h1, c = h2, e = h4, f = h5, g = h6, dd = h3, hh = h7;
        for (let t = 0; t < 64; t++) {
          const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
          const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
          const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
          const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
          hh = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
        }
        h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + dd) | 0;
        h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + hh) | 0;
      }
      h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
    }
    digest() {
      const bits = this.length * 8;
      const pad = new Uint8Array((this.fill < 56 ? 64 : 128) - this.fill);
      pad[0] = 0x80;
      const v = new DataView(pad.buffer);
      v.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
      v.setUint32(pad.length - 4, bits >>> 0);
      this.update(pad);
      const out = new Uint8Array(32);
      const ov = new DataView(out.buffer);
      for (let i = 0; i < 8; i++) ov.setUint32(4 * i, this.h[i]);
      return out;
    }
  }

  // parseFragment reads a link's key from location.hash ("#e1.KEY", the "#" optional) and
  // returns the 32-byte secret S.
  function parseFragment(hash) {
    const f = String(hash || "").replace(/^#/, "");
    if (!f.startsWith("e1.")) throw new E2EError("link", 'the link\'s key (after #) must start with "e1.": was the link cut short?');
    let s;
    try { s = b64decode(f.slice(3)); } catch (e) { s = null; }
    // One key, one spelling: bits past the key's 256 in the last character must be zero.
    if (!s || s.length !== 32 || b64encode(s) !== f.slice(3)) throw new E2EError("link", "the link's key (after #) is malformed: was the link cut short?");
    return s;
  }
  const fragment = (secret) => "e1." + b64encode(secret);

  // passphrase derives P (PBKDF2-HMAC-SHA-256, 600,000 iterations) and the verifier the
  // server checks in place of the passphrase (HKDF of P), from the passphrase and the
  // parcel's kdf_salt (16 bytes, or its base64url).
  async function passphrase(pass, salt) {
    if (typeof salt === "string") salt = b64decode(salt);
    if (salt.length !== 16) throw new E2EError("malformed", "the passphrase salt must be 16 bytes");
    const pw = await crypto.subtle.importKey("raw", enc.encode(pass), "PBKDF2", false, ["deriveBits"]);
    const p = new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: ITERATIONS }, pw, 256));
    const pk = await crypto.subtle.importKey("raw", p, "HKDF", false, ["deriveBits"]);
    const v = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: enc.encode("coffer-parcel-1 verifier") }, pk, 256));
    return { p, verifier: b64encode(v) };
  }

  // keys returns a parcel's keys from S and, with a passphrase, P.
  async function keys(secret, p) {
    const ikm = await crypto.subtle.importKey("raw", p ? concat(secret, p) : secret, "HKDF", false, ["deriveKey"]);
    const derive = (salt, info) => crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info: enc.encode(info) }, ikm,
      { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    return {
      file: (nonce) => derive(nonce, "coffer-parcel-1 file"),
      manifest: () => derive(new Uint8Array(0), "coffer-parcel-1 manifest"),
    };
  }

  const gcm = (iv, additionalData) => ({ name: "AES-GCM", iv, additionalData, tagLength: 128 });
  const header = (nonce) => concat(MAGIC, nonce);
  const metaIV = () => new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  function chunkIV(i) {
    const iv = new Uint8Array(12);
    new DataView(iv.buffer).setBigUint64(4, BigInt(i));
    return iv;
  }
  function chunkAAD(h, i, final) {
    const aad = new Uint8Array(HEADER + 9);
    aad.set(h);
    new DataView(aad.buffer).setBigUint64(HEADER, BigInt(i));
    aad[HEADER + 8] = final ? 1 : 0;
    return aad;
  }
  async function open(key, iv, data, aad, why) {
    try {
      return new Uint8Array(await crypto.subtle.decrypt(gcm(iv, aad), key, data));
    } catch (e) {
      throw authError(why);
    }
  }

  // checkName is files.CheckName: a name the receiver may write.
  function checkName(name) {
    const bad = (why) => new E2EError("name", "the parcel has a file whose name is unsafe (" + JSON.stringify(name) + "): " + why);
    if (name === "" || name === "." || name === "..") throw bad("empty, . or ..");
    if (enc.encode(name).length > 255) throw bad("longer than 255 bytes");
    for (const ch of name) {
      const r = ch.codePointAt(0);
      if (r < 0x20 || r === 0x7f || (r >= 0x80 && r < 0xa0)) throw bad("control characters");
      if ((r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)) throw bad("bidirectional control characters");
      if (r >= 0xd800 && r <= 0xdfff) throw bad("not valid UTF-8");
      if (ch === "/" || ch === "\\") throw bad("slashes");
    }
  }

  // openMeta opens a file's sealed metadata (the "name" the server lists): {name, size,
  // sha256 (hex), nonce (bytes), id (the nonce in base64url, as the manifest lists it)}.
  async function openMeta(k, sealed) {
    let b;
    try { b = b64decode(sealed); } catch (e) { b = new Uint8Array(0); }
    if (b.length < 32) throw new E2EError("malformed", "malformed file metadata");
    const nonce = b.slice(0, 16);
    const js = await open(await k.file(nonce), metaIV(), b.subarray(16), concat(header(nonce), enc.encode("meta")), "file metadata");
    let m;
    try { m = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(js)); } catch (e) { m = null; }
    if (!m || typeof m.name !== "string" || !Number.isSafeInteger(m.size) || m.size < 0 || !/^[0-9a-f]{64}$/.test(m.sha256)) {
      throw new E2EError("malformed", "malformed file metadata");
    }
    checkName(m.name);
    return { name: m.name, size: m.size, sha256: m.sha256, nonce, id: b64encode(nonce) };
  }

  // sealMeta seals {name, size, sha256 (hex)} for a file of the given nonce (16 bytes).
  async function sealMeta(k, m, nonce) {
    let js = enc.encode(JSON.stringify({ name: m.name, size: m.size, sha256: m.sha256 }));
    js = concat(js, new Uint8Array(128 - (js.length % 128)).fill(0x20));
    const ct = new Uint8Array(await crypto.subtle.encrypt(gcm(metaIV(), concat(header(nonce), enc.encode("meta"))), await k.file(nonce), js));
    return b64encode(concat(nonce, ct));
  }

  const manifestAAD = enc.encode("coffer-parcel-1 manifest");

  // openManifest opens a send parcel's sealed manifest: {message, files: [ids]}.
  async function openManifest(k, sealed) {
    let b;
    try { b = b64decode(sealed); } catch (e) { b = new Uint8Array(0); }
    if (b.length < 28) throw new E2EError("malformed", "malformed manifest");
    const js = await open(await k.manifest(), b.subarray(0, 12), b.subarray(12), manifestAAD, "the manifest");
    let m;
    try { m = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(js)); } catch (e) { m = null; }
    if (!m || typeof m.message !== "string" || !Array.isArray(m.files)) throw new E2EError("malformed", "malformed manifest");
    return { message: m.message, files: m.files };
  }

  // sealManifest seals {message, files: [ids]}; iv (12 bytes) only for test vectors.
  async function sealManifest(k, m, iv) {
    iv = iv || random(12);
    const ct = new Uint8Array(await crypto.subtle.encrypt(gcm(iv, manifestAAD), await k.manifest(), enc.encode(JSON.stringify({ message: m.message, files: m.files || [] }))));
    return b64encode(concat(iv, ct));
  }

  // openParcel reads what GET /api/v1/p/TOKEN answered (view) with the link's secret and P
  // (or null): every file's metadata opened, names checked and unique, and for a send
  // parcel the files checked against the manifest. Returns {message, files: [{id (the
  // server's file id), name, size, sha256, meta}]}, meta being what decrypt needs.
  async function openParcel(view, secret, p) {
    const k = await keys(secret, p);
    const files = [];
    for (const f of view.files || []) {
      const meta = await openMeta(k, f.name);
      if (files.some((o) => o.name === meta.name)) throw new E2EError("name", "the parcel has two files called " + JSON.stringify(meta.name));
      files.push({ id: f.id, name: meta.name, size: meta.size, sha256: meta.sha256, meta });
    }
    let message = "";
    if (view.manifest) {
      const man = await openManifest(k, view.manifest);
      const a = man.files.slice().sort(), b = files.map((f) => f.meta.id).sort();
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
        throw new E2EError("manifest", "the server's files are not those the sender sealed in the manifest: refusing the parcel");
      }
      message = man.message;
    }
    return { keys: k, message, files };
  }

  // A byte queue over a ReadableStream reader: take(n) returns the next n bytes, or fewer
  // at the end of the stream.
  function byteQueue(reader) {
    let parts = [], have = 0, done = false;
    return async function take(n) {
      while (have < n && !done) {
        const r = await reader.read();
        if (r.done) done = true;
        else if (r.value.length) { parts.push(r.value); have += r.value.length; }
      }
      const m = Math.min(n, have);
      const out = new Uint8Array(m);
      let o = 0;
      while (o < m) {
        const p = parts[0], k = Math.min(p.length, m - o);
        out.set(p.subarray(0, k), o);
        o += k;
        if (k === p.length) parts.shift(); else parts[0] = p.subarray(k);
      }
      have -= m;
      return out;
    };
  }

  // decrypt reads the sealed stream `body` (a ReadableStream of bytes, e.g. a fetch
  // response's body) of the file `meta` (from openParcel or openMeta) and writes the
  // plaintext to `sink` ({write(bytes), close(), abort(reason)}, all may return promises).
  // Every chunk's tag, the final flag, the size and the SHA-256 are checked; the last
  // chunk reaches the sink only when all of that passed, and the sink is closed then and
  // only then, so a sink that keeps a file only on close never keeps a bad one. On any
  // failure the sink is aborted and decrypt throws an E2EError. opts: onprogress(done,
  // total) in plaintext bytes, signal (an AbortSignal).
  async function decrypt(k, meta, body, sink, opts) {
    opts = opts || {};
    const reader = body.getReader();
    try {
      const take = byteQueue(reader);
      const h = await take(HEADER);
      if (!equal(h, header(meta.nonce))) throw authError("the file's header is not that of its metadata");
      const key = await k.file(meta.nonce);
      const sum = new SHA256();
      let cur = await take(SEALED), total = 0;
      for (let i = 0; ; i++) {
        if (opts.signal && opts.signal.aborted) throw new E2EError("aborted", "the download was stopped");
        const next = cur.length === SEALED ? await take(SEALED) : new Uint8Array(0);
        const final = next.length === 0;
        if (cur.length < 16 || (final && cur.length === 16 && i > 0)) throw authError("the file is truncated");
        const plain = await open(key, chunkIV(i), cur, chunkAAD(h, i, final), "chunk " + i);
        sum.update(plain);
        total += plain.length;
        if (final) {
          if (total !== meta.size || hex(sum.digest()) !== meta.sha256) throw authError("the file's size or SHA-256 differ from its metadata");
          if (plain.length) await sink.write(plain);
          await sink.close();
          if (opts.onprogress) opts.onprogress(total, meta.size);
          return { size: total, sha256: meta.sha256 };
        }
        await sink.write(plain);
        if (opts.onprogress) opts.onprogress(total, meta.size);
        cur = next;
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      const err = e instanceof E2EError ? e : new E2EError("aborted", String((e && e.message) || e));
      try { await sink.abort(err); } catch (e2) { /* the error that matters is err */ }
      throw err;
    }
  }

  // sealedSize is the size of the sealed stream of n plaintext bytes.
  const sealedSize = (n) => HEADER + n + 16 * Math.max(1, Math.ceil(n / CHUNK));

  // slices reads a Blob or File through its stream (pieces of a few hundred KiB to a few
  // MiB, as the browser gives them: several times faster than Blob.slice per piece,
  // which costs a round trip to the browser process each), as bytes.
  async function* slices(blob, signal) {
    const r = blob.stream().getReader();
    try {
      for (;;) {
        if (signal && signal.aborted) throw new E2EError("aborted", "stopped");
        const x = await r.read();
        if (x.done) return;
        yield x.value;
      }
    } finally {
      r.releaseLock();
    }
  }

  // hashFile is the SHA-256 (hex) of a Blob or File, read as a stream.
  async function hashFile(blob, opts) {
    opts = opts || {};
    const sum = new SHA256();
    let done = 0;
    for await (const b of slices(blob, opts.signal)) {
      sum.update(b);
      done += b.length;
      if (opts.onprogress) opts.onprogress(done, blob.size);
    }
    return hex(sum.digest());
  }

  // sealFile prepares a File (or Blob, with opts.name) for upload: it hashes it, seals its
  // metadata, and returns {meta (the sealed metadata: the name to PUT it under), id (its
  // nonce for the manifest), size (of the sealed stream), stream() (a ReadableStream of
  // the sealed bytes, read from the file piece by piece on demand)}. opts: name,
  // onprogress(done, total, phase) with phase "hash" or "encrypt", signal, nonce (16
  // bytes; only for test vectors).
  async function sealFile(k, file, opts) {
    opts = opts || {};
    const name = opts.name || file.name;
    checkName(name);
    const progress = opts.onprogress || (() => {});
    const sha256 = await hashFile(file, { signal: opts.signal, onprogress: (d, t) => progress(d, t, "hash") });
    const nonce = opts.nonce || random(16);
    const meta = await sealMeta(k, { name, size: file.size, sha256 }, nonce);
    const key = await k.file(nonce);
    const h = header(nonce);
    return {
      meta, id: b64encode(nonce), size: sealedSize(file.size), name, sha256,
      stream() {
        let it = null, i = 0, buf = new Uint8Array(0), done = 0, started = false;
        const more = async () => { // at least CHUNK+1 bytes in buf, or the file's end
          while (buf.length <= CHUNK) {
            const r = await it.next();
            if (r.done) return;
            buf = buf.length ? concat(buf, r.value) : r.value;
          }
        };
        return new ReadableStream({
          async pull(c) {
            if (!started) {
              started = true;
              it = slices(file, opts.signal);
              c.enqueue(h);
              return;
            }
            await more();
            const n = Math.min(CHUNK, buf.length), final = buf.length <= CHUNK;
            const plain = buf.subarray(0, n);
            c.enqueue(new Uint8Array(await crypto.subtle.encrypt(gcm(chunkIV(i), chunkAAD(h, i, final)), key, plain)));
            buf = buf.subarray(n);
            done += n;
            i++;
            progress(done, file.size, "encrypt");
            if (final) {
              if (done !== file.size) throw new E2EError("aborted", "the file changed while it was sent");
              c.close();
            }
          },
        }, { highWaterMark: 2 });
      },
    };
  }

  // stage writes the sealed stream to a temporary file in the origin's private file
  // system and returns it as a File backed by disk (so that it can be PUT without being
  // held in memory), with remove() to delete it. Where there is no such storage it
  // returns a Blob assembled from the sealed chunks (the browser keeps large Blobs in its
  // own process or pages them to disk; docs/parcels.md).
  async function stage(sealed) {
    if (navigator.storage && navigator.storage.getDirectory) {
      let dir = null;
      const tmpName = "coffer-upload-" + b64encode(random(12));
      const remove = () => (dir ? dir.removeEntry(tmpName).catch(() => {}) : Promise.resolve());
      try {
        dir = await navigator.storage.getDirectory();
        const fh = await dir.getFileHandle(tmpName, { create: true });
        if (fh.createWritable) {
          const w = await fh.createWritable();
          await sealed.stream().pipeTo(w);
          return { body: await fh.getFile(), remove };
        }
        await remove();
      } catch (e) {
        await remove();
        if (e instanceof E2EError) throw e;
      }
    }
    const parts = [];
    const r = sealed.stream().getReader();
    for (;;) {
      const x = await r.read();
      if (x.done) break;
      parts.push(new Blob([x.value]));
    }
    return { body: new Blob(parts), remove: async () => {} };
  }

  // upload seals a File and PUTs it to url + its sealed metadata: url is
  // "/api/v1/parcels/ID/files/" (the sender, into a draft) or "/api/v1/p/TOKEN/files/" (a
  // recipient, into a request). opts: headers (e.g. the ticket header), onprogress(done,
  // total, phase) with phase "hash", "encrypt" or "upload", signal. Returns {id (for the
  // manifest), meta, file (the server's JSON answer)}.
  async function upload(k, url, file, opts) {
    opts = opts || {};
    const sealed = await sealFile(k, file, opts);
    const staged = await stage(sealed);
    try {
      const answer = await new Promise((resolve, reject) => {
        const x = new XMLHttpRequest();
        x.open("PUT", url + sealed.meta);
        for (const [h, v] of Object.entries(opts.headers || {})) x.setRequestHeader(h, v);
        x.setRequestHeader("Content-Type", "application/octet-stream");
        if (opts.onprogress) x.upload.onprogress = (e) => opts.onprogress(e.loaded, sealed.size, "upload");
        if (opts.signal) opts.signal.addEventListener("abort", () => x.abort());
        x.onload = () => {
          let j = null;
          try { j = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
          if (x.status === 201) resolve(j);
          else reject(new E2EError("http", (j && (j.detail || j.title)) || "the server answered " + x.status));
        };
        x.onerror = () => reject(new E2EError("http", "the upload failed: network error"));
        x.onabort = () => reject(new E2EError("aborted", "the upload was stopped"));
        x.send(staged.body);
      });
      return { id: sealed.id, meta: sealed.meta, file: answer };
    } finally {
      await staged.remove();
    }
  }

  // Sinks: where decrypt writes.

  // fileSink writes into a FileSystemFileHandle (from showSaveFilePicker, or the origin's
  // private file system). The browser writes to a swap file and puts it in place on
  // close(); abort() discards it, and the picked file (which the picker created empty) is
  // removed where the browser can.
  async function fileSink(handle) {
    const w = await handle.createWritable();
    return {
      write: (b) => w.write(b),
      close: () => w.close(),
      async abort() {
        await w.abort();
        if (handle.remove) await handle.remove().catch(() => {});
      },
    };
  }

  // swSink streams to a download through the service worker parcel-sw.js, whose scope
  // (/static/parcel-e2e-download/) holds no page: it answers only the one URL it was told
  // of, with a stream the page feeds chunk by chunk as the browser asks (back pressure).
  // The browser keeps the download as NAME only when the stream ends normally; abort()
  // makes it fail.
  async function swSink(name, size) {
    if (!navigator.serviceWorker) throw new E2EError("unsupported", "this browser can save files neither with a file picker nor a service worker");
    const reg = await navigator.serviceWorker.register("/static/parcel-sw.js", { scope: SW_SCOPE });
    const worker = await new Promise((resolve) => {
      if (reg.active) return resolve(reg.active);
      const w = reg.installing || reg.waiting;
      w.addEventListener("statechange", () => { if (w.state === "activated") resolve(w); });
    });
    const id = b64encode(random(16));
    const ch = new MessageChannel();
    const pulls = [];
    let waiting = null, failed = null;
    ch.port1.onmessage = (e) => {
      if (e.data.type === "cancel") failed = new E2EError("aborted", "the download was cancelled in the browser");
      pulls.push(e.data.type);
      if (waiting) { const w = waiting; waiting = null; w(); }
    };
    const pull = async () => {
      while (!pulls.length) await new Promise((r) => { waiting = r; });
      pulls.shift();
      if (failed) throw failed;
    };
    await new Promise((resolve) => {
      const ready = new MessageChannel();
      ready.port1.onmessage = () => resolve();
      worker.postMessage({ type: "coffer-download", id, name, size }, [ch.port2, ready.port2]);
    });
    // A service worker with no events is stopped after ~30 s: ping it while this runs.
    const ping = setInterval(() => worker.postMessage({ type: "ping" }), 10000);
    const a = document.createElement("a");
    a.href = SW_SCOPE + id + "/" + encodeURIComponent(name);
    a.rel = "noopener";
    a.click();
    return {
      async write(b) {
        await pull();
        ch.port1.postMessage({ type: "data", chunk: b }, [b.buffer]);
      },
      async close() {
        await pull();
        ch.port1.postMessage({ type: "end" });
        clearInterval(ping);
      },
      async abort(reason) {
        clearInterval(ping);
        ch.port1.postMessage({ type: "error", message: String((reason && reason.message) || reason) });
      },
    };
  }

  // chooseSink picks where a file goes: the File System Access API's save dialog where
  // there is one (call it from a click handler: it needs the user's gesture), else the
  // service worker download. opts.prefer = "picker" | "sw" forces one.
  async function chooseSink(name, size, opts) {
    const prefer = (opts && opts.prefer) || (window.showSaveFilePicker ? "picker" : "sw");
    if (prefer === "picker") {
      let handle;
      try {
        handle = await window.showSaveFilePicker({ suggestedName: name });
      } catch (e) {
        if (e && e.name === "AbortError") throw new E2EError("aborted", "no file was chosen");
        throw e;
      }
      return fileSink(handle);
    }
    return swSink(name, size);
  }

  // download fetches file f (from openParcel) from the recipient API and decrypts it into
  // sink (chooseSink's, or fileSink's). opts: base ("/api/v1/p/TOKEN"), headers (the
  // ticket), onprogress(done, total), signal.
  async function download(k, base, f, sink, opts) {
    opts = opts || {};
    let resp;
    try {
      resp = await fetch(base + "/files/" + encodeURIComponent(f.id), { headers: opts.headers || {}, signal: opts.signal, cache: "no-store" });
    } catch (e) {
      await sink.abort(e);
      throw new E2EError("http", "the download failed: " + e.message);
    }
    if (!resp.ok) {
      let j = null;
      try { j = await resp.json(); } catch (e) { /* not JSON */ }
      await sink.abort(new Error("http"));
      throw new E2EError("http", (j && (j.detail || j.title)) || "the server answered " + resp.status);
    }
    return decrypt(k, f.meta, resp.body, sink, opts);
  }

  window.CofferParcelE2E = Object.freeze({
    E2EError, SHA256, parseFragment, fragment, passphrase, keys, openMeta, sealMeta, openManifest, sealManifest,
    openParcel, decrypt, sealFile, sealedSize, stage, upload, hashFile, fileSink, swSink, chooseSink, download, checkName,
    b64encode, b64decode, hex, newSecret: () => random(32), newSalt: () => random(16), CHUNK, SW_SCOPE,
  });
})();
