import type { Limiter, ThrottleStore } from "../throttle/throttle.js";
import type { AccountsConfig } from "./context.js";

/**
 * Sign-in attempts are counted three ways, each in a window of LOGIN_LOCKOUT_MINUTES:
 * - per login name and address (default 5): stops guessing one account from one place
 *   without touching its owner elsewhere. Keyed by the name as typed (normalised), not the
 *   account, so the lock cannot reveal which e-mail belongs to which username;
 * - per account (default 20): stops distributed guessing of one account. This is the one an
 *   attacker could use to lock a victim out, so it is bounded in time: the lock lifts after
 *   the window, and password reset keeps working meanwhile. Keeping someone out means
 *   failing 20 times every window, which the audit log and per-address limits show;
 * - per address (default 100): stops one address spraying many accounts.
 * Attempts are counted BEFORE the password is checked, so a burst of concurrent guesses is
 * counted in full; a correct sign-in gives its attempt back and clears the account's
 * counters. A refused attempt is answered before the password is looked at, so a lockout
 * says nothing about whether the password was right.
 */
export interface LoginThrottle {
  /** Counts an attempt; returns seconds to wait when it is refused, else null. */
  attempt(keys: LoginKeys): Promise<{ retryAfterSeconds: number | null; lastAllowed: boolean }>;
  /** A correct sign-in: gives the attempt back and clears the account's counters. */
  succeed(keys: LoginKeys): Promise<void>;
}

export interface LoginKeys {
  /** The user id, or a stand-in derived from the name when no such user exists. */
  account: string;
  /** The name as typed, normalised (lower-case, trimmed). */
  loginName: string;
  /** The client address (IPv6 grouped by /64, see addressKey). */
  address: string;
}

export function createLoginThrottle(
  store: ThrottleStore,
  settings: AccountsConfig["loginThrottle"],
): LoginThrottle {
  const windowSeconds = settings.lockoutMinutes * 60;
  const rule = (name: string, points: number): Limiter =>
    store.limiter({ name, points, durationSeconds: windowSeconds, blockSeconds: windowSeconds });
  const nameAddress = rule("login-name-address", settings.perAccountAddress);
  const account = rule("login-account", settings.perAccount);
  const address = rule("login-address", settings.perAddress);
  const pairKey = (keys: LoginKeys): string => `${keys.loginName}\n${keys.address}`;

  return {
    async attempt(keys) {
      const decisions = await Promise.all([
        nameAddress.consume(pairKey(keys)),
        account.consume(keys.account),
        address.consume(keys.address),
      ]);
      const waits = decisions.flatMap((d) => (d.allowed ? [] : [d.retryAfterSeconds]));
      return {
        retryAfterSeconds: waits.length === 0 ? null : Math.max(...waits),
        lastAllowed: decisions.some((d) => d.allowed && d.remaining === 0),
      };
    },
    async succeed(keys) {
      await Promise.all([
        nameAddress.reset(pairKey(keys)),
        account.reset(keys.account),
        address.reward(keys.address),
      ]);
    },
  };
}
