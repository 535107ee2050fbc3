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

// A revealed value does not stay on screen: after a minute it is removed from the page
// (reveal again to see it). Without JavaScript it stays until the page is left.
const revealed = document.getElementById("secret-value");
if (revealed !== null) {
  setTimeout(() => {
    revealed.textContent = "Hidden after a minute. Reveal again to see it.";
    revealed.classList.add("muted");
    for (const note of document.querySelectorAll(".secret-note")) note.remove();
    for (const button of document.querySelectorAll("[data-copy]")) button.remove();
  }, 60_000);
}

// Mailed links (password reset, sign-up) carry their single-use code in the URL's fragment,
// which browsers never send to a server. Copy it into the form, hide the field, and drop it
// from the address bar and history. Without JavaScript the reader pastes the code instead.
const linkCode = document.querySelector("[data-link-code] input");
if (linkCode instanceof HTMLInputElement) {
  const code = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (code !== null && code !== "") {
    linkCode.value = code;
    linkCode.closest("[data-link-code]")?.setAttribute("hidden", "");
    window.history.replaceState(null, "", window.location.pathname);
  }
}
