/** Exit codes of the CLI (docs/cli.md). A module of its own so light commands load nothing else. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
