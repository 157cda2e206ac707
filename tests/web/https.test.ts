// Optional HTTPS: a real agent started with TANDEM_WEB_TLS=self-signed makes a
// self-signed certificate at first boot (openssl), serves the UI over TLS, and the
// browser's session cookie is Secure with the __Host- prefix.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { launchBrowser, newContext, screenshot, setFirstPassword, startAgent, type Agent } from "./harness.ts";

let agent: Agent;
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  [agent, { browser, close: closeBrowser }] = await Promise.all([
    startAgent({ name: "https", webPort: 8443, env: { TANDEM_WEB_TLS: "self-signed" } }),
    launchBrowser(),
  ]);
}, 60_000);

afterAll(async () => {
  await closeBrowser?.();
  await agent?.stop();
});

test("serves the UI over HTTPS with a generated certificate and Secure cookies", async () => {
  expect(agent.url).toBe(`https://${agent.address}:8443`);
  const certPath = join(agent.dataDir, "web-tls", "cert.pem");
  const keyPath = join(agent.dataDir, "web-tls", "key.pem");
  expect(statSync(keyPath).mode & 0o777).toBe(0o600);
  const text = Bun.spawnSync(["openssl", "x509", "-in", certPath, "-noout", "-text"]).stdout.toString();
  expect(text).toContain(`IP Address:${agent.address}`);
  expect(readFileSync(certPath, "utf8")).toContain("BEGIN CERTIFICATE");

  // Plain HTTP on the same port gets nothing useful.
  const plain = await fetch(`http://${agent.address}:8443/login`).then((r) => r.status, () => "refused");
  expect(plain).not.toBe(200);

  const context = await newContext(browser, 1280, { ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(agent.url + "/");
  expect(new URL(page.url()).pathname).toBe("/first-boot");
  await setFirstPassword(page, "https password");
  expect(new URL(page.url()).pathname).toBe("/");
  const sid = (await context.cookies(agent.url)).find((c) => c.name === "__Host-tandem_sid");
  expect(sid?.secure).toBe(true);
  expect(sid?.httpOnly).toBe(true);
  expect(sid?.sameSite).toBe("Strict");
  await screenshot(page, "dashboard-https-1280");
  await context.close();
}, 60_000);
