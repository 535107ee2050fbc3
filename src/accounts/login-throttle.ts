import type { Limiter, ThrottleStore } from "../throttle/throttle.js";
import type { AccountsConfig } from "./context.js";

/**
 * Failed sign-ins are counted three ways, each in a window of LOGIN_LOCKOUT_MINUTES:
 * - per account and address (default 5): stops guessing one account from one place, without
 *   touching the owner elsewhere;
 * - per account (default 20): stops distributed guessing of one account. This is the one an
 *   attacker could use to lock a victim out, so it is bounded in time: the lock lifts after
 *   the window, the victim's own correct sign-ins are refused only while it lasts, and a
 *   password reset still works. Keeping someone out means failing 20 times every window,
 *   which is itself visible in the audit log and per-address limits.
 * - per address (default 100): stops one address spraying many accounts.
 * A blocked attempt is refused before the password is checked, so a lockout answer says
 * nothing about whether the password was right.
 */
export interface LoginThrottle {
  /** Seconds until the caller may try again, or null when the attempt may proceed. */
  check(accountKey: string, address: string): Promise<number | null>;
  /** Counts a failure; returns seconds to wait when this failure started a block. */
  fail(accountKey: string, address: string): Promise<number | null>;
  /** A correct sign-in clears the account's counters (not the address's). */
  succeed(accountKey: string, address: string): Promise<void>;
}

export function createLoginThrottle(
  store: ThrottleStore,
  settings: AccountsConfig["loginThrottle"],
): LoginThrottle {
  const windowSeconds = settings.lockoutMinutes * 60;
  const rule = (name: string, points: number): Limiter =>
    store.limiter({ name, points, durationSeconds: windowSeconds, blockSeconds: windowSeconds });
  const accountAddress = rule("login-account-address", settings.perAccountAddress);
  const account = rule("login-account", settings.perAccount);
  const address = rule("login-address", settings.perAddress);
  const pairKey = (accountKey: string, from: string): string => `${accountKey}\n${from}`;

  const longestWait = (
    decisions: Array<{ allowed: boolean; retryAfterSeconds?: number }>,
  ): number | null => {
    const waits = decisions.filter((d) => !d.allowed).map((d) => d.retryAfterSeconds ?? 1);
    return waits.length === 0 ? null : Math.max(...waits);
  };

  return {
    async check(accountKey, from) {
      return longestWait(
        await Promise.all([
          accountAddress.peek(pairKey(accountKey, from)),
          account.peek(accountKey),
          address.peek(from),
        ]),
      );
    },
    async fail(accountKey, from) {
      const decisions = await Promise.all([
        accountAddress.consume(pairKey(accountKey, from)),
        account.consume(accountKey),
        address.consume(from),
      ]);
      // The failure that uses the last point starts the block (it is itself still answered
      // 401); report it so the lockout is audited when it begins.
      if (decisions.some((d) => d.allowed && d.remaining === 0)) return windowSeconds;
      return longestWait(decisions);
    },
    async succeed(accountKey, from) {
      await Promise.all([
        accountAddress.reset(pairKey(accountKey, from)),
        account.reset(accountKey),
      ]);
    },
  };
}
