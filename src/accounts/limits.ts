import type { ThrottleStore } from "../throttle/throttle.js";
import type { AccountLimits, AccountsConfig } from "./context.js";
import { createLoginThrottle } from "./login-throttle.js";

const HOUR = 3600;

/** Builds every account throttle once per process, over the shared store (Redis or memory). */
export function createAccountLimits(
  store: ThrottleStore,
  config: Pick<AccountsConfig, "loginThrottle">,
): AccountLimits {
  return {
    login: createLoginThrottle(store, config.loginThrottle),
    registerPerAddress: store.limiter({
      name: "register-address",
      points: 10,
      durationSeconds: HOUR,
      blockSeconds: HOUR,
    }),
    resetPerAddress: store.limiter({
      name: "reset-address",
      points: 10,
      durationSeconds: HOUR,
      blockSeconds: HOUR,
    }),
    resetPerEmail: store.limiter({
      name: "reset-email",
      points: 3,
      durationSeconds: HOUR,
      blockSeconds: HOUR,
    }),
    totpPerUser: store.limiter({
      name: "totp-user",
      points: 5,
      durationSeconds: 300,
      blockSeconds: 300,
    }),
    emailChangePerUser: store.limiter({
      name: "email-change-user",
      points: 5,
      durationSeconds: HOUR,
      blockSeconds: HOUR,
    }),
    passkeyChallengesPerAddress: store.limiter({
      name: "passkey-challenge-address",
      points: 60,
      durationSeconds: 60,
      blockSeconds: 60,
    }),
    passkeyPerAddress: store.limiter({
      name: "passkey-address",
      points: 30,
      durationSeconds: 900,
      blockSeconds: 900,
    }),
    passwordPerUser: store.limiter({
      name: "password-user",
      points: 5,
      durationSeconds: 900,
      blockSeconds: 900,
    }),
  };
}
