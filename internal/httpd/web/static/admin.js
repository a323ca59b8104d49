// Administration pages: ask before the forms marked data-confirm do something that cannot
// be undone. (Without JavaScript the forms still work, without the question.)
"use strict";
document.addEventListener("submit", (ev) => {
  const form = ev.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : "";
  if (question && !window.confirm(question)) ev.preventDefault();
});
