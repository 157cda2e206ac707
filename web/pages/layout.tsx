/** @jsxImportSource hono/jsx */
// The page frame shared by every signed-in page: top bar with the appliance name and
// the Save / Restart / Log out buttons (each a form carrying the CSRF token), the page
// tabs, the one-shot flash message, and the data attributes the live-update script reads.
import type { Child } from "hono/jsx";
import type { Flash } from "../sessions.ts";
import type { WebLimits } from "../limits.ts";

export interface PageFrame {
  title: string;
  active: string;
  hostname: string;
  csrf: string;
  flash: Flash | null;
  limits: WebLimits;
  lastEventId: number;
  /** Poll /api/status and update [data-live] elements. */
  live: boolean;
}

export const tabs: [string, string][] = [
  ["/", "Dashboard"],
  ["/sync", "Data store sync"],
  ["/rules", "In-path rules"],
  ["/connections", "Connections"],
  ["/datastore", "Data store"],
  ["/alarms", "Alarms & log"],
  ["/settings", "Settings"],
  ["/config", "Configuration"],
];

export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

export function FlashBox(props: { flash: Flash | null }) {
  if (!props.flash) return null;
  return (
    <div class={`flash ${props.flash.kind}`} role={props.flash.kind === "error" ? "alert" : "status"} data-flash={props.flash.kind}>
      {props.flash.text}
    </div>
  );
}

function Head(props: { title: string; csrf?: string }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
      <title>{props.title} · Tandem</title>
      <link rel="stylesheet" href="/static/style.css" />
      <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
    </head>
  );
}

export function Page(props: PageFrame & { children?: Child }) {
  const f = props;
  return (
    <html lang="en">
      <Head title={f.title} csrf={f.csrf} />
      <body
        data-poll={f.live ? "1" : "0"}
        data-poll-ms={String(f.limits.pollMs)}
        data-sample-ms={String(f.limits.historySampleMs)}
        data-history-max={String(f.limits.historySamplesMax)}
        data-events-max={String(f.limits.eventsPageMax)}
        data-last-event-id={String(f.lastEventId)}
      >
        <header class="top">
          <span class="brand">Tandem</span>
          <span class="host" data-testid="hostname">{f.hostname}</span>
          <span class="muted live-error" data-live-error hidden>connection to the appliance lost; retrying…</span>
          <div class="actions">
            <form method="post" action="/save">
              <Csrf token={f.csrf} />
              <button type="submit" title="write memory: save the running configuration as the startup configuration">Save</button>
            </form>
            <form method="post" action="/restart" data-confirm="Restart the optimization and sync services now? Connections in progress are cut.">
              <Csrf token={f.csrf} />
              <button type="submit">Restart service</button>
            </form>
            <form method="post" action="/logout">
              <Csrf token={f.csrf} />
              <button type="submit">Log out</button>
            </form>
          </div>
        </header>
        <nav class="tabs" aria-label="pages">
          {tabs.map(([href, label]) => (
            <a href={href} class={href === f.active ? "active" : ""} aria-current={href === f.active ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <main>
          <h1>{f.title}</h1>
          <FlashBox flash={f.flash} />
          {f.children}
        </main>
        <footer>
          <span data-live-updated></span>
        </footer>
        <script src="/static/app.js" defer></script>
      </body>
    </html>
  );
}

/** Login, first-boot and error pages: no session, no tabs. */
export function BarePage(props: { title: string; children?: Child }) {
  return (
    <html lang="en">
      <Head title={props.title} />
      <body data-poll="0">
        <header class="top">
          <span class="brand">Tandem</span>
        </header>
        <main class="auth">
          <div class="card">
            <h1>{props.title}</h1>
            {props.children}
          </div>
        </main>
      </body>
    </html>
  );
}
