// The service worker of end-to-end parcel downloads (parcel-e2e.js, swSink). It is
// registered with the scope /static/parcel-e2e-download/, where no page lives, so it can
// intercept nothing else; there it answers only the URLs a page announced, with a stream
// that the page feeds with decrypted chunks as the browser asks for them.
"use strict";

const pending = new Map(); // id -> {port, name, size}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

self.addEventListener("message", (e) => {
  const d = e.data || {};
  if (d.type !== "coffer-download" || typeof d.id !== "string" || e.ports.length !== 2) return; // "ping" only keeps us alive
  pending.set(d.id, { port: e.ports[0], name: String(d.name), size: d.size });
  e.ports[1].postMessage("ready");
});

self.addEventListener("fetch", (e) => {
  const u = new URL(e.request.url);
  const scope = new URL(self.registration.scope);
  if (u.origin !== scope.origin || !u.pathname.startsWith(scope.pathname)) return;
  const id = u.pathname.slice(scope.pathname.length).split("/")[0];
  const d = pending.get(id);
  if (!d) return; // the server answers 404
  pending.delete(id);
  const port = d.port;
  const stream = new ReadableStream({
    pull(c) {
      return new Promise((resolve) => {
        port.onmessage = (m) => {
          const x = m.data;
          if (x.type === "data") c.enqueue(new Uint8Array(x.chunk.buffer, x.chunk.byteOffset, x.chunk.byteLength));
          else if (x.type === "end") c.close();
          else c.error(new Error(x.message || "the download failed"));
          resolve();
        };
        port.postMessage({ type: "pull" });
      });
    },
    cancel() {
      port.postMessage({ type: "cancel" });
    },
  }, { highWaterMark: 1 });
  const headers = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": "attachment; filename*=UTF-8''" + encodeURIComponent(d.name),
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
  };
  if (Number.isSafeInteger(d.size)) headers["Content-Length"] = String(d.size);
  e.respondWith(new Response(stream, { headers }));
});
