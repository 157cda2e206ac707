// The JSON API behind the same session and CSRF guard as the pages: the status view
// the pages poll, and the control API's reads and changes. Errors are
// {"code", "message"} with the TandemError's HTTP status (see web/app.ts onError).
import type { Hono } from "hono";
import { TandemError } from "../../agent/errors.ts";
import { controlChars, statusFor, type WebDeps, type WebEnv } from "../context.ts";

export function registerApiRoutes(app: Hono<WebEnv>, deps: WebDeps): void {
  const { control, limits } = deps;
  // --- JSON API (same session and CSRF rules) ---
  app.get("/api/status", (c) => c.json(statusFor(c, deps)));
  app.get("/api/connections", (c) => c.json(control.connections()));
  app.get("/api/events", (c) => {
    const after = Number(c.req.query("afterId") ?? "0");
    return c.json(control.events(Number.isFinite(after) ? after : 0, limits.eventsPageMax));
  });
  app.get("/api/config", (c) => c.json({ config: control.config(), runningConfig: control.runningConfig() }));
  app.get("/api/services", (c) => c.json(control.services()));
  app.post("/api/configure", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new TandemError("badInput", "expected a JSON body {\"lines\": [\"...\"]}");
    }
    const lines = (body as { lines?: unknown } | null)?.lines;
    if (!Array.isArray(lines) || !lines.every((l) => typeof l === "string" && !controlChars.test(l))) {
      throw new TandemError("badInput", "lines: expected an array of single-line strings");
    }
    if (lines.length > limits.configureLinesMax) throw new TandemError("limitExceeded", `at most ${limits.configureLinesMax} lines per call`);
    return c.json(await control.configure(lines));
  });
  app.post("/api/write-memory", async (c) => c.json(await control.writeMemory()));
  app.post("/api/restart", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { clean?: unknown };
    await control.restart({ clean: body?.clean === true });
    return c.json({ ok: true });
  });
  app.post("/api/sync/check", async (c) => c.json(await control.syncCheck()));
}
