// What the page route modules share: the page frame for a request (title, tab, the
// one-shot flash, CSRF token), the redirect that leaves a flash message behind (so a
// reload never posts twice), and the text of a configure result.
import type { ApplyResult } from "../../agent/services.ts";
import type { Ctx, WebDeps } from "../context.ts";

export function pageKit(deps: WebDeps) {
  const { control, limits } = deps;
  return {
    frame: (c: Ctx, title: string, active: string, live = true) => {
      const session = c.get("session");
      const flash = session.flash;
      session.flash = null;
      const events = control.events(0, 1);
      return { title, active, hostname: control.version().hostname, csrf: session.csrf, flash, limits, lastEventId: events[events.length - 1]?.id ?? 0, live };
    },
    flashRedirect: (c: Ctx, to: string, kind: "ok" | "error", text: string) => {
      c.get("session").flash = { kind, text };
      return c.redirect(to, 303);
    },
    applied: (r: ApplyResult, what: string) =>
      [what, ...r.notes].join("; ") + (r.restartRequired ? `. Restart required: ${r.restartRequired}` : ""),
  };
}

export type PageKit = ReturnType<typeof pageKit>;
