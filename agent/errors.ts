// The one error type of the agent. Every operating error carries a stable code; the
// code is mapped once to the wire (refusal reasons between appliances), once to an
// HTTP status (web UI and control API) and once to the console's `% message` form.
// Programmer errors are not TandemErrors: they are assertions and crash the process.

export const errorCodes = {
  badInput: { httpStatus: 400 },        // malformed user input, command or value
  badConfig: { httpStatus: 400 },       // a configuration line or file that does not validate
  badFrame: { httpStatus: 400 },        // malformed, truncated or oversized wire frame
  corrupt: { httpStatus: 500 },         // data that does not hash to its label, bad checksum
  missingSegment: { httpStatus: 404 },  // a label the store does not hold
  notFound: { httpStatus: 404 },
  refused: { httpStatus: 403 },         // a peer refused pairing or a channel (model, version, role...)
  unauthorized: { httpStatus: 401 },    // bad secret, bad password, no session
  forbidden: { httpStatus: 403 },       // authenticated but not allowed (read-only, CSRF)
  rateLimited: { httpStatus: 429 },
  storeFull: { httpStatus: 507 },       // disk or map full
  unavailable: { httpStatus: 503 },     // peer down, service stopped
  timeout: { httpStatus: 504 },
  limitExceeded: { httpStatus: 413 },   // a named bound was reached
  internal: { httpStatus: 500 },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class TandemError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly detail?: Record<string, unknown>) {
    super(message);
    this.name = "TandemError";
  }

  get httpStatus(): number {
    return errorCodes[this.code].httpStatus;
  }

  /** The console form: `% Message`. */
  toConsole(): string {
    return `% ${this.message}`;
  }

  /** The wire form sent in a refusal or error frame. */
  toWire(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }

  static fromWire(value: unknown): TandemError {
    const v = value as { code?: unknown; message?: unknown } | null;
    const code = typeof v?.code === "string" && v.code in errorCodes ? (v.code as ErrorCode) : "internal";
    const message = typeof v?.message === "string" ? v.message.slice(0, 500) : "peer sent an unreadable error";
    return new TandemError(code, message);
  }
}

/** Turns anything thrown into a TandemError (unknown errors become `internal`). */
export function asTandemError(err: unknown): TandemError {
  if (err instanceof TandemError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TandemError("internal", message);
}
