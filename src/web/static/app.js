// Progressive enhancement only: every page works without this file.
// Copy buttons copy the text of the element they name; forms marked data-confirm ask first.
document.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return;
  const copy = target.closest("[data-copy]");
  if (copy instanceof HTMLElement) {
    const source = document.getElementById(copy.dataset.copy ?? "");
    if (source !== null) {
      void navigator.clipboard.writeText(source.textContent ?? "").then(() => {
        copy.textContent = "Copied";
      });
    }
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }
});
