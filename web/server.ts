// Serves the web UI app (web/app.ts) with Bun.serve on the management address
// (`interface primary address`) and `web port`, over HTTP, or HTTPS with a self-signed
// certificate made at first boot when TANDEM_WEB_TLS=self-signed (or options.tls).
// Starts the dashboard history sampler and passes each request's client address to
// the app, which uses it for loopback-only first boot and /metrics.
import type { ApplianceContext } from "../agent/appliance-context.ts";
import { TandemError } from "../agent/errors.ts";
import { createWebApp } from "./app.ts";
import { StatusHistory } from "./history.ts";
import { defaultWebLimits, type WebLimits } from "./limits.ts";
import { ensureSelfSignedCert } from "./tls.ts";

export interface WebServerOptions {
  /** Overrides the config's webPort (0: let the OS pick, for tests). */
  port?: number;
  hostname?: string;
  /** "self-signed": HTTPS with a certificate generated under <dataDir>/web-tls. Default: env TANDEM_WEB_TLS, else off. */
  tls?: "off" | "self-signed";
  limits?: Partial<WebLimits>;
}

export interface WebServer {
  url: string;
  stop(): Promise<void>;
}

/** Idle keep-alive connections are closed after this many seconds. */
export const webIdleTimeoutS = 30;

export async function startWebServer(ctx: Pick<ApplianceContext, "control" | "dataDir" | "config" | "events"> & Partial<Pick<ApplianceContext, "metrics">>, options: WebServerOptions = {}): Promise<WebServer> {
  const config = ctx.config();
  const hostname = options.hostname ?? config.interfaces.primary;
  const port = options.port ?? config.webPort;
  const tlsMode = options.tls ?? (process.env.TANDEM_WEB_TLS === "self-signed" ? "self-signed" : "off");
  const https = tlsMode === "self-signed";
  const tls = https ? ensureSelfSignedCert(ctx.dataDir, hostname, config.hostname) : null;
  if (tls?.generated) ctx.events.emit("notice", "web", `generated a self-signed certificate for the web UI: ${tls.certPath}`);
  const limits = { ...defaultWebLimits, ...options.limits };
  const history = new StatusHistory(ctx.control, limits.historySampleMs, limits.historySamplesMax);
  const hostPart = hostname.includes(":") ? `[${hostname}]` : hostname;
  const scheme = https ? "https" : "http";
  const publicBase = `${scheme}://${hostPart}:${port === 0 ? "PORT" : port}`;

  // The app prints the first-boot link when it is created; build it once the port is known.
  let server: ReturnType<typeof Bun.serve>;
  let app: ReturnType<typeof createWebApp> | null = null;
  try {
    server = Bun.serve({
      hostname,
      port,
      idleTimeout: webIdleTimeoutS,
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
      fetch: (req, srv) => {
        if (!app) return new Response("starting", { status: 503 });
        return app.fetch(req, { clientIp: srv.requestIP(req)?.address });
      },
    });
  } catch (err) {
    throw new TandemError("unavailable", `web UI cannot listen on ${hostPart}:${port}: ${(err as Error).message}`);
  }
  const url = `${scheme}://${hostPart}:${server.port}`;
  app = createWebApp({
    control: ctx.control, dataDir: ctx.dataDir, events: ctx.events, metrics: ctx.metrics, https,
    publicUrl: publicBase.replace(":PORT", `:${server.port}`), limits: options.limits, history,
  });
  history.start();
  return {
    url,
    stop: async () => {
      history.stop();
      // Close open connections too: a restart requested from the UI must not wait for its own request.
      await server.stop(true);
    },
  };
}
