import type { Logger } from "pino";
import type { AuditEventCounter } from "../audit/audit.service.js";
import type { Config } from "../config/config.js";
import type { SecurityEventFields } from "../http/security-events.js";
import type { SecurityEvent } from "../lib/errors.js";
import type { Mailer } from "../mail/mailer.js";
import type { Limiter } from "../throttle/throttle.js";
import type { LoginThrottle } from "./login-throttle.js";

/** The settings the accounts capability reads. */
export type AccountsConfig = Pick<
  Config,
  | "env"
  | "secretKey"
  | "masterKeys"
  | "argon2"
  | "passwordMinLength"
  | "session"
  | "registration"
  | "publicUrl"
  | "publicUrlIsHttps"
  | "loginThrottle"
  | "smtp"
  | "requireMfa"
  | "reauthMinutes"
  | "totpDriftSteps"
>;

/**
 * What account services need besides the database handle they are called with. Built once
 * by the routes (and the CLI) and passed to every service call.
 */
export interface AccountsContext {
  config: AccountsConfig;
  limits: AccountLimits;
  mailer: Mailer;
  logger: Logger;
  /** The clock; tests inject one to move time. */
  now: () => Date;
  /** Counts committed sign-in and reveal events for metrics; a no-op when metrics are off. */
  countAuditEvent: AuditEventCounter;
}

/** The throttles of the account flows (see login-throttle.ts and limits.ts). */
export interface AccountLimits {
  login: LoginThrottle;
  /** Sign-ups per address. */
  registerPerAddress: Limiter;
  /** Reset requests per address and per e-mail address. */
  resetPerAddress: Limiter;
  resetPerEmail: Limiter;
  /** Wrong second-factor codes per user (login, enrolment). */
  totpPerUser: Limiter;
  /** Wrong current passwords per user (password change, MFA removal). */
  passwordPerUser: Limiter;
  /** E-mail changes per user (each one can probe whether an address is taken). */
  emailChangePerUser: Limiter;
  /** Failed passkey sign-ins per address. */
  passkeyPerAddress: Limiter;
  /** Passkey sign-in challenges issued per address (each is a row until it expires). */
  passkeyChallengesPerAddress: Limiter;
}

/** Where a request came from, for sessions, throttling and the audit log. */
export interface RequestOrigin {
  address: string;
  userAgent: string | null;
  /** Logs a security event with the request's own fields (address, method, URL, request id). */
  securityEvent: (event: SecurityEvent, fields: SecurityEventFields) => void;
}

/** Adds `minutes` to a time, as an ISO string. */
export function addMinutes(time: Date, minutes: number): string {
  return new Date(time.getTime() + minutes * 60_000).toISOString();
}
