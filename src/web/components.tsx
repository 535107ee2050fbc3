import type { ComponentChildren, VNode } from "preact";

/** A form that posts with this session's CSRF token. */
export function PostForm({
  action,
  csrfToken,
  children,
  class: className,
  confirm,
}: {
  action: string;
  csrfToken: string;
  children: ComponentChildren;
  class?: string;
  /** Asked in a dialog before submitting (by /static/app.js; without JavaScript it submits). */
  confirm?: string;
}): VNode {
  return (
    <form method="post" action={action} class={className} data-confirm={confirm}>
      <input type="hidden" name="_csrf" value={csrfToken} />
      {children}
    </form>
  );
}

export interface FieldProps {
  name: string;
  label: string;
  type?: "text" | "email" | "password" | "datetime-local";
  /** A hint under the label, tied to the input for screen readers. */
  hint?: string;
  value?: string;
  error?: string | undefined;
  autocomplete?: string;
  required?: boolean;
  multiline?: boolean;
}

/** A labelled input; its error is tied to it for screen readers. */
export function Field({
  name,
  label,
  type = "text",
  value,
  error,
  autocomplete,
  required = false,
  multiline = false,
  hint,
}: FieldProps): VNode {
  const id = `field-${name}`;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [hint !== undefined ? hintId : null, error !== undefined ? errorId : null]
    .filter((part) => part !== null)
    .join(" ");
  const common = {
    id,
    name,
    required,
    "aria-invalid": error !== undefined ? ("true" as const) : undefined,
    "aria-describedby": describedBy === "" ? undefined : describedBy,
  };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {hint !== undefined ? (
        <p class="muted" id={hintId}>
          {hint}
        </p>
      ) : null}
      {multiline ? (
        <textarea {...common} rows={4} value={value ?? ""} />
      ) : (
        <input {...common} type={type as "text"} value={value ?? ""} autocomplete={autocomplete} />
      )}
      {error !== undefined ? (
        <p class="field-error" id={errorId} aria-live="polite">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/**
 * The single-use code of a mailed link (reset, sign-up). The link carries it in the URL's
 * fragment, which the browser never sends; /static/app.js copies it into this field and hides
 * the field. Without JavaScript the reader pastes the code the mail also gives. Once known (a
 * form shown again after a refused password), it rides along hidden.
 */
export function LinkCodeField({ value }: { value: string }): VNode {
  return (
    <div class="field" data-link-code hidden={value !== ""}>
      <label for="field-token">Code from the e-mail</label>
      <p class="muted" id="field-token-hint">
        Opening the link fills this in; otherwise paste the code the e-mail gives.
      </p>
      <input
        id="field-token"
        name="token"
        type="text"
        value={value}
        autocomplete="off"
        spellcheck={false}
        required
        aria-describedby="field-token-hint"
      />
    </div>
  );
}

/** Field errors from a zod failure, keyed by the first path segment. */
export function fieldErrors(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    const key = String(issue.path[0] ?? "form");
    errors[key] ??= issue.message;
  }
  return errors;
}

/** A time for people (`2026-11-28 17:06 UTC`), machine-readable in `datetime`; "never" for null. */
export function Time({ iso }: { iso: string | null }): VNode {
  if (iso === null) return <span class="muted">never</span>;
  return <time datetime={iso}>{`${iso.slice(0, 16).replace("T", " ")} UTC`}</time>;
}
