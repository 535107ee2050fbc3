/**
 * Removing credentials that have ended. Every check already refuses a session, link or
 * challenge past its end; this deletes the rows as well, so a stolen database holds fewer
 * hashes and personal data (an unconfirmed sign-up keeps an e-mail address and a password
 * hash) than it would if they piled up. The server runs it at start and then every hour.
 */
import type { Logger } from "pino";
import type { Db } from "../db/schema.js";

/** How often a running server removes ended credentials. */
export const HOUSEKEEPING_INTERVAL_MS = 60 * 60_000;

/** Rows removed by one pass, by kind. */
export interface PurgedCredentials {
  /** Sessions past their absolute or idle timeout. */
  sessions: number;
  /** Password-reset links used or past their 30 minutes. */
  resetLinks: number;
  /** Sign-ups never confirmed within their 24 hours. */
  pendingRegistrations: number;
  /** Passkey (WebAuthn) challenges past their 5 minutes. */
  webauthnChallenges: number;
}

/** Deletes every session, reset link, unconfirmed sign-up and passkey challenge ended by `now`. */
export async function purgeEndedCredentials(db: Db, now: Date): Promise<PurgedCredentials> {
  const at = now.toISOString();
  const sessions = await db
    .deleteFrom("sessions")
    .where((eb) => eb.or([eb("expires_at", "<=", at), eb("idle_expires_at", "<=", at)]))
    .executeTakeFirst();
  const resetLinks = await db
    .deleteFrom("password_reset_tokens")
    .where((eb) => eb.or([eb("expires_at", "<=", at), eb("used_at", "is not", null)]))
    .executeTakeFirst();
  const pendingRegistrations = await db
    .deleteFrom("pending_registrations")
    .where("expires_at", "<=", at)
    .executeTakeFirst();
  const webauthnChallenges = await db
    .deleteFrom("webauthn_challenges")
    .where("expires_at", "<=", at)
    .executeTakeFirst();
  return {
    sessions: Number(sessions.numDeletedRows),
    resetLinks: Number(resetLinks.numDeletedRows),
    pendingRegistrations: Number(pendingRegistrations.numDeletedRows),
    webauthnChallenges: Number(webauthnChallenges.numDeletedRows),
  };
}

/**
 * Runs {@link purgeEndedCredentials} now and every `intervalMs`, one pass at a time, without
 * keeping the process alive. A failed pass (the database away) is logged and tried again at
 * the next interval. Returns the function that stops it and waits for a pass in progress.
 */
export function startHousekeeping(options: {
  db: Db;
  logger: Logger;
  now?: () => Date;
  intervalMs?: number;
}): () => Promise<void> {
  const { db, logger, now = () => new Date(), intervalMs = HOUSEKEEPING_INTERVAL_MS } = options;
  let running: Promise<void> | null = null;
  const pass = (): void => {
    if (running !== null) return;
    running = purgeEndedCredentials(db, now())
      .then((purged) => {
        if (Object.values(purged).some((count) => count > 0))
          logger.info({ purged }, "ended credentials removed");
      })
      .catch((error: unknown) => logger.warn({ err: error }, "housekeeping failed"))
      .finally(() => {
        running = null;
      });
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
