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
  if (root && window.CofferParcelE2E) window.CofferParcelE2E.mount(root);
})();
