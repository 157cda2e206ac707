// Test harness of the web UI tests: real `tandem start` processes on addresses of the
// web block (127.0.8.0/24), and a real Chromium driven by playwright-core. Collects
// the agent's stderr so tests can read the first-boot token it printed, and saves
// screenshots under test-artifacts/web/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const repoRoot = join(import.meta.dir, "..", "..");
export const artifactsDir = join(repoRoot, "test-artifacts", "web");
/** How long an agent may take to print its ready line. */
export const agentReadyMs = 30_000;
export const chromiumPath = "/usr/bin/chromium";

export interface Agent {
  address: string;
  url: string;
  dataDir: string;
  configPath: string;
  proc: ReturnType<typeof Bun.spawn>;
  stderr(): string;
  /** The one-time first-boot token the agent printed, if any. */
  firstBootToken(): string | null;
  stop(): Promise<void>;
}

let nextHost = 10 + Math.floor(Math.random() * 200);

/** A fresh address of the web block for one agent (each agent owns its whole port space). */
export function freshAddress(): string {
  const host = nextHost;
  nextHost = nextHost >= 250 ? 10 : nextHost + 1;
  return `127.0.8.${host}`;
}

export async function startAgent(options: {
  name: string;
  address?: string;
  extraConfig?: string[];
  webPort?: number;
  env?: Record<string, string>;
  /** Runs on the (new, empty) data directory before the agent starts, e.g. to seed its store. */
  prepare?: (dataDir: string) => Promise<void>;
}): Promise<Agent> {
  const address = options.address ?? freshAddress();
  const dir = mkdtempSync(join(tmpdir(), `tandem-web-${options.name}-`));
  const dataDir = join(dir, "data");
  const configPath = join(dir, "tandem.conf");
  const webPort = options.webPort ?? 8080;
  writeFileSync(configPath, [
    `hostname ${options.name}`,
    `interface primary address ${address}`,
    `interface aux address ${address}`,
    `interface inpath address ${address}`,
    `web port ${webPort}`,
    "datastore capacity-mb 64",
    ...(options.extraConfig ?? []),
  ].join("\n") + "\n");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  await options.prepare?.(dataDir);
  const proc = Bun.spawn({
    cmd: [process.execPath, join(repoRoot, "agent", "main.ts"), "start", "--config", configPath, "--data", dataDir],
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
  let err = "";
  let out = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += decoder.decode(chunk);
  })();
  const ready = (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      out += decoder.decode(chunk);
      const m = /tandem: ready web=(\S+)/.exec(out);
      if (m) return m[1]!;
    }
    throw new Error(`agent ${options.name} exited before ready (code ${await proc.exited}):\n${err}`);
  })();
  let timer: Timer | undefined;
  const url = await Promise.race([
    ready,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`agent ${options.name} not ready within ${agentReadyMs} ms:\n${err}`)), agentReadyMs))),
  ]).finally(() => clearTimeout(timer));
  if (url === "none") throw new Error(`agent ${options.name} started without a web UI:\n${err}`);
  return {
    address, url, dataDir, configPath, proc,
    stderr: () => err,
    firstBootToken: () => /first-boot\?token=([A-Za-z0-9_-]+)/.exec(err)?.[1] ?? null,
    stop: async () => {
      proc.kill("SIGTERM");
      const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  // playwright-core refuses --user-data-dir with launch(); it gives every launch a
  // fresh temporary profile of its own, which is what the flag was for.
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
    },
  };
}

export async function newContext(browser: Browser, width: number, options: { ignoreHTTPSErrors?: boolean } = {}): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width, height: width < 500 ? 844 : 900 }, ignoreHTTPSErrors: options.ignoreHTTPSErrors });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Fills and submits the first-boot form (the page must already show it). */
export async function setFirstPassword(page: Page, password: string): Promise<void> {
  await page.fill('input[name="password"]', password);
  await page.fill('input[name="confirm"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
}

/** A fresh agent and a browser page at 1280 px that did the first boot with `password`
 *  (so it is logged in as admin). */
export async function firstBootSession(name: string, password: string) {
  const [agent, { browser, close: closeBrowser }] = await Promise.all([startAgent({ name }), launchBrowser()]);
  const context = await newContext(browser, 1280);
  const page = await context.newPage();
  await page.goto(agent.url + "/first-boot");
  await setFirstPassword(page, password);
  return { agent, browser, closeBrowser, context, page };
}

export async function login(page: Page, baseUrl: string, password: string, username = "admin"): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
}

/** Polls `check` until it returns true or `timeoutMs` passes (condition waits, not timing assertions). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
