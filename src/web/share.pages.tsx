import type { VNode } from "preact";
import { assetUrl } from "./assets.js";
import { PostForm, Time } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

/** A live link as its creator and the vault's owners see it. */
export interface ShareLinkSummary {
  id: string;
  maxViews: number;
  views: number;
  expiresAt: string;
  createdAt: string;
  createdBy: string | null;
}

export interface ShareManagePageProps {
  context: PageContext;
  vault: string;
  secret: string;
  links: ShareLinkSummary[];
}

/**
 * Making and revoking share links of one secret. Making one needs /static/share.js: the value
 * is encrypted in this browser, so the form stays hidden until the script shows it. Revoking
 * is a plain form and works without it.
 */
export function ShareManagePage({ context, vault, secret, links }: ShareManagePageProps): VNode {
  const secretPath = `/vaults/${encodeURIComponent(vault)}/secrets/${encodeURIComponent(secret)}`;
  return (
    <Layout title={`Share ${secret}`} context={context}>
      <p>
        <a href={secretPath}>← {secret}</a>
      </p>
      <h1>Share links for {secret}</h1>
      <p>
        A share link lets someone without an account see this secret's current value a set number of
        times, until it expires. The value is encrypted in your browser; the key is the part of the
        link after <code>#</code>, which never reaches the server. Send the link over a different
        channel than the passphrase, if you set one.
      </p>
      <noscript>
        <p class="flash error">Making a link needs JavaScript: the value is encrypted here.</p>
      </noscript>
      <form
        id="share-create"
        hidden
        data-vault={vault}
        data-secret={secret}
        data-csrf={context.csrfToken}
      >
        <div class="field">
          <label for="share-views">Views before it stops working (1–100)</label>
          <input id="share-views" name="maxViews" type="number" min="1" max="100" value="1" />
        </div>
        <div class="field">
          <label for="share-expiry">Expires after</label>
          <select id="share-expiry" name="expiresInMinutes">
            <option value="60">1 hour</option>
            <option value="1440" selected>
              24 hours
            </option>
            <option value="4320">3 days</option>
            <option value="10080">7 days</option>
          </select>
        </div>
        <div class="field">
          <label for="share-passphrase">Passphrase (optional)</label>
          <input
            id="share-passphrase"
            name="passphrase"
            type="password"
            autocomplete="new-password"
          />
        </div>
        <button type="submit">Create link</button>
      </form>
      <p id="share-status" role="status" aria-live="polite" />
      <div id="share-result" hidden>
        <div class="field">
          <label for="share-link">Link (shown once: copy it now)</label>
          <input id="share-link" type="text" readonly />
        </div>
        <button type="button" id="share-copy">
          Copy link
        </button>
      </div>
      <h2>Live links</h2>
      {links.length === 0 ? (
        <p class="muted">No live links.</p>
      ) : (
        <ul id="share-links">
          {links.map((link) => (
            <li key={link.id}>
              {link.views} of {link.maxViews} views used, expires <Time iso={link.expiresAt} />
              {link.createdBy !== null ? `, made by ${link.createdBy}` : ""}{" "}
              <PostForm
                action={`${secretPath}/shares/${encodeURIComponent(link.id)}/revoke`}
                csrfToken={context.csrfToken}
                class="inline"
                confirm="Revoke this link? Whoever has it will no longer be able to open it."
              >
                <button type="submit" class="link">
                  Revoke<span class="visually-hidden"> the link made {link.createdAt}</span>
                </button>
              </PostForm>
            </li>
          ))}
        </ul>
      )}
      <script src={assetUrl("share.js")} defer />
    </Layout>
  );
}

/**
 * The page a share link opens. Loading it burns nothing (link previews and scanners fetch
 * pages): /static/share.js takes a view only when "Reveal" is pressed, then decrypts in the
 * browser with the key from the link's fragment.
 */
export function ShareViewPage({ context, id }: { context: PageContext; id: string }): VNode {
  return (
    <Layout title="A shared secret" context={context}>
      <h1>A secret was shared with you</h1>
      <p>
        Revealing it uses up one of the link's views; after the last one the link stops working.
        Reveal it only when you are ready to copy it.
      </p>
      <noscript>
        <p class="flash error">
          Revealing needs JavaScript: the value is decrypted in your browser, so the server never
          sees it.
        </p>
      </noscript>
      <form id="share-reveal" hidden data-share-id={id}>
        <div class="field" id="share-passphrase-field" hidden>
          <label for="share-passphrase">Passphrase</label>
          <input id="share-passphrase" type="password" autocomplete="off" />
        </div>
        <button type="submit">Reveal</button>
      </form>
      <p id="share-status" role="status" aria-live="polite" />
      <section id="share-result" hidden aria-label="Shared value">
        <h2 id="share-name">Shared value</h2>
        <pre class="secret-value" id="share-value" />
        <button type="button" data-copy="share-value">
          Copy
        </button>
      </section>
      <script src={assetUrl("share.js")} defer />
    </Layout>
  );
}
