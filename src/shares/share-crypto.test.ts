import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { runInNewContext } from "node:vm";
import {
  decryptShare,
  encryptShare,
  parseShareFragment,
  SHARE_FLAG_PASSPHRASE,
  SHARE_FORMAT_VERSION,
  SHARE_KEY_BYTES,
  SHARE_NONCE_BYTES,
  SHARE_SALT_BYTES,
  shareNeedsPassphrase,
} from "./share-crypto.js";

/** AES-GCM's tag, after the ciphertext. */
const TAG_BYTES = 16;
const VALUE = "päss—wörd 🔐\nsecond line\n";

interface BrowserShareCrypto {
  encryptShare(
    name: string,
    value: string,
    passphrase: string | null,
  ): Promise<{ ciphertext: string; fragment: string }>;
  decryptShare(
    bytes: Uint8Array,
    linkKey: Uint8Array,
    passphrase: string | null,
  ): Promise<{ name: string; value: string }>;
  fromBase64Url(text: string): Uint8Array;
}

/**
 * The page script itself, src/web/static/share.js, run as the browser runs it (a classic
 * script) with Node's WebCrypto, base64 and text codecs and a document holding none of the
 * share forms, so only its functions are defined. Interop is then proven against the code
 * that ships, not a copy of it.
 */
function loadBrowserShareCrypto(): BrowserShareCrypto {
  const source = readFileSync(new URL("../web/static/share.js", import.meta.url), "utf8");
  return runInNewContext(`${source}\n;({ encryptShare, decryptShare, fromBase64Url });`, {
    crypto: globalThis.crypto,
    TextEncoder,
    TextDecoder,
    atob,
    btoa,
    document: { getElementById: () => null },
    HTMLFormElement: class {},
  }) as BrowserShareCrypto;
}

function bytesOf(ciphertext: string): Buffer {
  assert.match(ciphertext, /^[A-Za-z0-9_-]+$/, "base64url without padding");
  return Buffer.from(ciphertext, "base64url");
}

function keyOf(fragment: string): Buffer {
  const parsed = parseShareFragment(fragment);
  assert.ok(parsed !== null, fragment);
  return parsed.linkKey;
}

describe("share-link encryption (format v1)", () => {
  it("round-trips without a passphrase, the key alone opening it", async () => {
    const { ciphertext, fragment } = await encryptShare("STRIPE_KEY", VALUE, null);
    assert.deepEqual(await decryptShare(bytesOf(ciphertext), keyOf(fragment), null), {
      name: "STRIPE_KEY",
      value: VALUE,
    });
    // Another link key does not open it.
    const other = await encryptShare("STRIPE_KEY", VALUE, null);
    await assert.rejects(decryptShare(bytesOf(ciphertext), keyOf(other.fragment), null));
  });

  it("round-trips with a passphrase, which the link alone cannot replace", async () => {
    const { ciphertext, fragment } = await encryptShare("DB", "hunter2", "correct horse");
    const bytes = bytesOf(ciphertext);
    const key = keyOf(fragment);
    assert.deepEqual(await decryptShare(bytes, key, "correct horse"), {
      name: "DB",
      value: "hunter2",
    });
    await assert.rejects(decryptShare(bytes, key, "wrong horse"));
    await assert.rejects(decryptShare(bytes, key, null), /needs its passphrase/);
  });

  it("lays the bytes out as share.js documents: version, flags, salt, nonce, sealed text", async () => {
    const plain = await encryptShare("N", "v", null);
    const bytes = bytesOf(plain.ciphertext);
    assert.equal(bytes[0], SHARE_FORMAT_VERSION);
    assert.equal(bytes[1], 0);
    assert.equal(bytes.length, 2 + SHARE_NONCE_BYTES + "N\nv".length + TAG_BYTES);
    assert.equal(shareNeedsPassphrase(bytes), false);
    assert.match(plain.fragment, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(keyOf(plain.fragment).length, SHARE_KEY_BYTES);

    const locked = await encryptShare("N", "v", "pass");
    const lockedBytes = bytesOf(locked.ciphertext);
    assert.equal(lockedBytes[0], SHARE_FORMAT_VERSION);
    assert.equal(lockedBytes[1], SHARE_FLAG_PASSPHRASE);
    assert.equal(
      lockedBytes.length,
      2 + SHARE_SALT_BYTES + SHARE_NONCE_BYTES + "N\nv".length + TAG_BYTES,
    );
    assert.equal(shareNeedsPassphrase(lockedBytes), true);
    assert.match(locked.fragment, /^[A-Za-z0-9_-]{43}\.p$/);
    assert.deepEqual(parseShareFragment(locked.fragment)?.needsPassphrase, true);

    // Fresh key and nonce every time: the same text never gives the same link.
    const again = await encryptShare("N", "v", null);
    assert.notEqual(again.ciphertext, plain.ciphertext);
    assert.notEqual(again.fragment, plain.fragment);
  });

  it("authenticates the header: a flipped flag, version or byte anywhere fails", async () => {
    const { ciphertext, fragment } = await encryptShare("N", "value", null);
    const key = keyOf(fragment);
    const version = bytesOf(ciphertext);
    version[0] = 2;
    await assert.rejects(decryptShare(version, key, null), /unknown share format/);
    for (const index of [1, 2, 14, bytesOf(ciphertext).length - 1]) {
      const damaged = bytesOf(ciphertext);
      damaged[index] = (damaged[index] ?? 0) ^ (index === 1 ? 2 : 1);
      await assert.rejects(decryptShare(damaged, key, null), `byte ${index}`);
    }
  });

  it("refuses fragments that are not a 32-byte key with an optional .p", () => {
    for (const bad of ["", "abc", `${"A".repeat(43)}.q`, `${"A".repeat(44)}`, `${"A".repeat(42)}+`])
      assert.equal(parseShareFragment(bad), null, bad);
  });

  it("opens what the browser's share.js encrypts, and share.js opens what this encrypts", async () => {
    const browser = loadBrowserShareCrypto();
    for (const passphrase of [null, "correct horse battery"]) {
      const fromBrowser = await browser.encryptShare("STRIPE_KEY", VALUE, passphrase);
      assert.equal(fromBrowser.fragment.endsWith(".p"), passphrase !== null);
      assert.deepEqual(
        await decryptShare(
          bytesOf(fromBrowser.ciphertext),
          keyOf(fromBrowser.fragment),
          passphrase,
        ),
        { name: "STRIPE_KEY", value: VALUE },
      );

      const fromNode = await encryptShare("STRIPE_KEY", VALUE, passphrase);
      const opened = await browser.decryptShare(
        browser.fromBase64Url(fromNode.ciphertext),
        browser.fromBase64Url(fromNode.fragment.split(".")[0] ?? ""),
        passphrase,
      );
      assert.deepEqual({ ...opened }, { name: "STRIPE_KEY", value: VALUE });
    }
  });
});
