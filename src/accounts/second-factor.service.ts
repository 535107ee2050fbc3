import type { Db } from "../db/schema.js";
import type { AccountsContext } from "./context.js";
import { hashRecoveryCode, normaliseRecoveryCode } from "./recovery-codes.js";
import { verifyTotp } from "./totp.js";
import { openTotpSecret } from "./totp-secrets.js";
import type { UserRow } from "./users.repository.js";
import { consumeRecoveryCode, recordTotpStep } from "./users.repository.js";

/**
 * Checks a second factor for a user with TOTP enabled: a current authenticator code (each
 * time step usable once: the step is recorded atomically, so a replay inside the window
 * fails) or an unused recovery code (marked used). True when accepted.
 */
export async function verifySecondFactor(
  db: Db,
  ctx: AccountsContext,
  user: UserRow,
  code: string,
): Promise<"totp" | "recovery" | null> {
  const trimmed = code.replace(/\s+/g, "");
  if (/^\d{6}$/.test(trimmed)) {
    if (user.totp_secret === null) return null;
    const secret = openTotpSecret(ctx.config.masterKeys, user.id, user.totp_secret);
    const result = verifyTotp(secret, trimmed, {
      lastUsedStep: user.totp_last_step,
      now: ctx.now().getTime(),
      driftSteps: ctx.config.totpDriftSteps,
    });
    if (!result.ok) return null;
    return (await recordTotpStep(db, user.id, result.step)) ? "totp" : null;
  }
  const normalised = normaliseRecoveryCode(code);
  if (normalised === null) return null;
  const used = await consumeRecoveryCode(
    db,
    user.id,
    hashRecoveryCode(normalised),
    ctx.now().toISOString(),
  );
  return used ? "recovery" : null;
}
