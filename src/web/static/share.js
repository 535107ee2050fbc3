// One-time share links, encrypted and decrypted in this browser with WebCrypto. The server
// stores only ciphertext; the key travels in the link's fragment (after "#"), which browsers
// never send to any server.
//
// Ciphertext format, version 1 (base64url without padding in the API):
//   byte 0     format version: 1
//   byte 1     flags: bit 0 set when a passphrase is needed as well as the link
//   16 bytes   PBKDF2 salt (only when a passphrase is needed)
//   12 bytes   AES-GCM nonce
//   the rest   AES-256-GCM ciphertext and tag of the UTF-8 text "NAME\nVALUE", with the
//              bytes before the nonce (version, flags, salt) as additional data
// Key: 32 random bytes K from the link. With a passphrase P, the AES key is
//   HKDF-SHA-256(ikm = K, salt = PBKDF2-SHA-256(P, salt, 600 000 iterations, 32 bytes),
//                info = "strongroom share v1"),
// so the server's copy and the link together are not enough without P, nor P without the link.
// Fragment: base64url(K), followed by ".p" when a passphrase is needed (so the page asks first).

const VERSION = 1;
const FLAG_PASSPHRASE = 1;
const PBKDF2_ITERATIONS = 600_000;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const KEY_BYTES = 32;
const INFO = new TextEncoder().encode("strongroom share v1");

function toBase64Url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function aesKey(linkKey, passphrase, salt, usage) {
  if (passphrase === null) {
    return crypto.subtle.importKey("raw", linkKey, "AES-GCM", false, [usage]);
  }
  const password = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(passphrase),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const stretched = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    password,
    256,
  );
  const ikm = await crypto.subtle.importKey("raw", linkKey, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(stretched), info: INFO },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

/** Encrypts "name\nvalue"; returns the ciphertext and the link's fragment. */
async function encryptShare(name, value, passphrase) {
  const linkKey = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  const salt =
    passphrase === null ? new Uint8Array(0) : crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const header = new Uint8Array(2 + salt.length);
  header[0] = VERSION;
  header[1] = passphrase === null ? 0 : FLAG_PASSPHRASE;
  header.set(salt, 2);
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const key = await aesKey(linkKey, passphrase, salt, "encrypt");
  const plaintext = new TextEncoder().encode(`${name}\n${value}`);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: header },
      key,
      plaintext,
    ),
  );
  plaintext.fill(0);
  const out = new Uint8Array(header.length + nonce.length + sealed.length);
  out.set(header, 0);
  out.set(nonce, header.length);
  out.set(sealed, header.length + nonce.length);
  const fragment = toBase64Url(linkKey) + (passphrase === null ? "" : ".p");
  linkKey.fill(0);
  return { ciphertext: toBase64Url(out), fragment };
}

/** Whether a ciphertext needs a passphrase (from its flags). */
function needsPassphrase(bytes) {
  return bytes.length > 1 && (bytes[1] & FLAG_PASSPHRASE) !== 0;
}

/** Decrypts a version-1 ciphertext; throws on a wrong key or passphrase, or damage. */
async function decryptShare(bytes, linkKey, passphrase) {
  if (bytes[0] !== VERSION) throw new Error("unknown format");
  const saltLength = needsPassphrase(bytes) ? SALT_BYTES : 0;
  const header = bytes.subarray(0, 2 + saltLength);
  const nonce = bytes.subarray(header.length, header.length + NONCE_BYTES);
  const sealed = bytes.subarray(header.length + NONCE_BYTES);
  const key = await aesKey(
    linkKey,
    saltLength === 0 ? null : passphrase,
    header.subarray(2),
    "decrypt",
  );
  const plaintext = new Uint8Array(
    await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: header },
      key,
      sealed,
    ),
  );
  const text = new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  plaintext.fill(0);
  const newline = text.indexOf("\n");
  return { name: text.slice(0, newline), value: text.slice(newline + 1) };
}

/** The problem's detail, or a fallback, from a failed API answer. */
async function problemDetail(response, fallback) {
  try {
    const problem = await response.json();
    return typeof problem.detail === "string" ? problem.detail : fallback;
  } catch {
    return fallback;
  }
}

function say(text, isError) {
  const status = document.getElementById("share-status");
  if (status === null) return;
  status.textContent = text;
  status.classList.toggle("field-error", isError === true);
}

// The management page of a secret: make a link.
const createForm = document.getElementById("share-create");
if (createForm instanceof HTMLFormElement) {
  createForm.hidden = false;
  const { vault = "", secret = "", csrf = "" } = createForm.dataset;
  const secretApi = `/api/v1/vaults/${encodeURIComponent(vault)}/secrets/${encodeURIComponent(secret)}`;
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = createForm.querySelector("button[type=submit]");
    if (button instanceof HTMLButtonElement) button.disabled = true;
    try {
      const data = new FormData(createForm);
      const passphraseText = String(data.get("passphrase") ?? "");
      say("Encrypting…");
      // The value is read through the API (an audited reveal) and never leaves this page
      // unencrypted.
      const revealed = await fetch(secretApi, {
        credentials: "same-origin",
        headers: { accept: "application/json" },
      });
      if (revealed.status === 401) {
        // Step-up: the session must prove the password again before a value is read; the
        // re-authentication page brings the user back here.
        const problem = await revealed
          .clone()
          .json()
          .catch(() => ({}));
        if (typeof problem.type === "string" && problem.type.endsWith("reauth-required")) {
          location.assign(`/reauth?next=${encodeURIComponent(location.pathname)}`);
          return;
        }
      }
      if (!revealed.ok) {
        say(await problemDetail(revealed, "The value could not be read."), true);
        return;
      }
      const secretBody = await revealed.json();
      const value =
        typeof secretBody.value === "string"
          ? secretBody.value
          : JSON.stringify(secretBody.value, null, 2);
      const { ciphertext, fragment } = await encryptShare(
        secret,
        value,
        passphraseText === "" ? null : passphraseText,
      );
      const created = await fetch(`${secretApi}/shares`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({
          ciphertext,
          maxViews: Number(data.get("maxViews")),
          expiresInMinutes: Number(data.get("expiresInMinutes")),
        }),
      });
      if (!created.ok) {
        say(await problemDetail(created, "The link could not be made."), true);
        return;
      }
      const { share } = await created.json();
      const link = document.getElementById("share-link");
      if (link instanceof HTMLInputElement)
        link.value = `${location.origin}/s/${share.id}#${fragment}`;
      const result = document.getElementById("share-result");
      if (result !== null) result.hidden = false;
      const passphraseInput = document.getElementById("share-passphrase");
      if (passphraseInput instanceof HTMLInputElement) passphraseInput.value = "";
      say(
        `Link made: ${share.maxViews} view${share.maxViews === 1 ? "" : "s"}, expires ${share.expiresAt.slice(0, 16).replace("T", " ")} UTC. It is shown only now.`,
      );
    } catch {
      say("The link could not be made.", true);
    } finally {
      if (button instanceof HTMLButtonElement) button.disabled = false;
    }
  });
  const copy = document.getElementById("share-copy");
  copy?.addEventListener("click", () => {
    const link = document.getElementById("share-link");
    if (link instanceof HTMLInputElement) {
      void navigator.clipboard.writeText(link.value).then(() => {
        copy.textContent = "Copied";
      });
    }
  });
}

// The page a link opens: take a view only when asked, then decrypt here.
const revealForm = document.getElementById("share-reveal");
if (revealForm instanceof HTMLFormElement) {
  const fragment = location.hash.slice(1);
  const [keyText = "", marker] = fragment.split(".");
  let linkKey = null;
  try {
    linkKey = fromBase64Url(keyText);
  } catch {
    linkKey = null;
  }
  const passphraseField = document.getElementById("share-passphrase-field");
  const passphraseInput = document.getElementById("share-passphrase");
  const askPassphrase = () => {
    if (passphraseField !== null) passphraseField.hidden = false;
    if (passphraseInput instanceof HTMLInputElement) {
      passphraseInput.required = true;
      passphraseInput.focus();
    }
  };
  if (linkKey === null || linkKey.length !== KEY_BYTES) {
    say(
      "This link is incomplete: the part after # is missing or damaged. Ask for the whole link.",
      true,
    );
  } else {
    revealForm.hidden = false;
    if (marker === "p") askPassphrase();
    /** The ciphertext, once a view was taken: a wrong passphrase can be retried without another. */
    let fetched = null;
    revealForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = revealForm.querySelector("button[type=submit]");
      if (button instanceof HTMLButtonElement) button.disabled = true;
      try {
        if (fetched === null) {
          say("Opening…");
          const response = await fetch(
            `/api/v1/shares/${encodeURIComponent(revealForm.dataset.shareId ?? "")}`,
            {
              credentials: "same-origin",
              headers: { accept: "application/json" },
              cache: "no-store",
            },
          );
          if (!response.ok) {
            const fallback =
              response.status === 404
                ? "This link was already used, revoked, or never existed."
                : response.status === 410
                  ? "This link has expired."
                  : "The link could not be opened.";
            say(await problemDetail(response, fallback), true);
            revealForm.hidden = true;
            return;
          }
          const body = await response.json();
          fetched = { bytes: fromBase64Url(body.ciphertext), viewsLeft: body.viewsLeft };
        }
        const passphrase =
          passphraseInput instanceof HTMLInputElement && passphraseInput.value !== ""
            ? passphraseInput.value
            : null;
        if (needsPassphrase(fetched.bytes) && passphrase === null) {
          askPassphrase();
          say("Enter the passphrase you were given with this link.", true);
          return;
        }
        say("Decrypting…");
        let opened;
        try {
          opened = await decryptShare(fetched.bytes, linkKey, passphrase);
        } catch {
          say(
            needsPassphrase(fetched.bytes)
              ? "Wrong passphrase, or a damaged link. Try again: this page keeps what it received."
              : "The link is damaged: it cannot be decrypted.",
            true,
          );
          return;
        }
        const name = document.getElementById("share-name");
        if (name !== null) name.textContent = opened.name;
        const value = document.getElementById("share-value");
        if (value !== null) value.textContent = opened.value;
        const result = document.getElementById("share-result");
        if (result !== null) result.hidden = false;
        revealForm.hidden = true;
        // The key is no longer needed: keep it out of the address bar and the history.
        history.replaceState(null, "", location.pathname);
        linkKey.fill(0);
        fetched.bytes.fill(0);
        say(
          fetched.viewsLeft === 0
            ? "This was the link's last view: it no longer works. Copy the value now."
            : `The link can be opened ${fetched.viewsLeft} more time${fetched.viewsLeft === 1 ? "" : "s"}.`,
        );
      } catch {
        say("The link could not be opened.", true);
      } finally {
        if (button instanceof HTMLButtonElement) button.disabled = false;
      }
    });
  }
}
