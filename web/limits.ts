// Named bounds of the web UI: sessions, login rate limiting, form sizes, history and
// polling. Every queue, window and timeout of web/ is declared here (units last), and
// tests may override them through createWebApp's `limits` option.

export interface WebLimits {
  /** Concurrent admin sessions kept; the least recently used is dropped past this. */
  sessionsMax: number;
  /** A session unused this long is logged out. */
  sessionIdleMs: number;
  /** A session older than this is logged out however busy it is. */
  sessionLifetimeMs: number;
  /** Failed logins (or first-boot token tries) from one client within the window before it is refused. */
  loginFailuresPerClientMax: number;
  /** Failed logins from all clients together within the window before everyone is refused. */
  loginFailuresGlobalMax: number;
  loginWindowMs: number;
  /** Clients the login limiter remembers (oldest forgotten first). */
  limiterClientsMax: number;
  passwordCharsMin: number;
  passwordCharsMax: number;
  /** Largest request body accepted (forms and JSON). */
  requestBytesMax: number;
  /** Configuration lines accepted in one /api/configure call. */
  configureLinesMax: number;
  /** How often the dashboard history is sampled from the control API. */
  historySampleMs: number;
  /** Samples kept for the dashboard charts (historySampleMs * this = the time span shown). */
  historySamplesMax: number;
  /** How often pages poll the JSON API for live values. */
  pollMs: number;
  /** Events returned by one /api/events call and shown on the alarms page. */
  eventsPageMax: number;
}

export const defaultWebLimits: WebLimits = {
  sessionsMax: 64,
  sessionIdleMs: 30 * 60_000,
  sessionLifetimeMs: 12 * 3600_000,
  loginFailuresPerClientMax: 5,
  loginFailuresGlobalMax: 50,
  loginWindowMs: 60_000,
  limiterClientsMax: 1024,
  passwordCharsMin: 8,
  passwordCharsMax: 256,
  requestBytesMax: 64 * 1024,
  configureLinesMax: 64,
  historySampleMs: 2_000,
  historySamplesMax: 300,
  pollMs: 2_000,
  eventsPageMax: 200,
};
