// The control server under hostile or careless clients, over its real Unix sockets:
// garbage lines, requests without ids, unknown methods, bad params, an oversized line
// and a client that vanishes mid-call get precise errors and leave the appliance and
// its other clients unaffected. Also: progress lines for write methods, and a stale
// socket file left by a crashed agent does not block the next start.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Appliance } from "../../agent/appliance.ts";
import { connectControl } from "../../agent/control/client.ts";
import { requestBytesMax } from "../../agent/control/server.ts";
import { cloneConfig, defaultConfig } from "../../agent/config/types.ts";
import { readApplianceVersion } from "../../agent/version.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-control-"));
let appliance: Appliance;

beforeAll(async () => {
  // A stale socket file, as a SIGKILLed agent leaves behind.
  writeFileSync(join(root, "control.sock"), "");
  const config = cloneConfig(defaultConfig);
  config.interfaces.primary = config.interfaces.inpath = "127.0.4.40";
  appliance = new Appliance(readApplianceVersion(), root, join(root, "tandem.conf"), config);
  await appliance.startControl();
});

afterAll(async () => {
  await appliance.shutdown();
  rmSync(root, { recursive: true, force: true });
});

/** A raw JSON-lines client: send lines, collect parsed replies. */
async function raw(path: string): Promise<{ socket: Socket; replies: unknown[]; next(n: number): Promise<unknown[]> }> {
  const socket = createConnection({ path });
  const replies: unknown[] = [];
  let buffer = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      replies.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
  });
  await new Promise<void>((resolve, reject) => { socket.once("connect", resolve); socket.once("error", reject); });
  const next = async (n: number) => {
    for (let i = 0; i < 200 && replies.length < n; i++) await Bun.sleep(10);
    return replies.slice(0, n);
  };
  return { socket, replies, next };
}

describe("control server", () => {
  test("greets, then answers bad requests with precise errors", async () => {
    const c = await raw(join(root, "control.sock"));
    const [hello] = await c.next(1);
    expect(hello).toEqual({ hello: { product: "Tandem", protocol: 1, readOnly: false } });
    c.socket.write("this is not json\n");
    c.socket.write(JSON.stringify({ method: "version" }) + "\n");
    c.socket.write(JSON.stringify({ id: 3, method: "shutdownEverything" }) + "\n");
    c.socket.write(JSON.stringify({ id: 4, method: "events", params: "nope" }) + "\n");
    c.socket.write(JSON.stringify({ id: 5, method: "configure", params: [[42]] }) + "\n");
    c.socket.write(JSON.stringify({ id: 6, method: "configure", params: [["web port 99999"]] }) + "\n");
    c.socket.write(JSON.stringify({ id: 7, method: "version", params: [] }) + "\n");
    const replies = (await c.next(8)).slice(1) as { id: unknown; error?: { code: string; message: string }; result?: { hostname: string } }[];
    expect(replies).toHaveLength(7);
    const byId = (id: unknown) => replies.find((r) => r.id === id)!;
    expect(replies.filter((r) => r.id === null).map((r) => r.error!.message).sort())
      .toEqual(["request is not JSON", "request needs an id (number or string)"]);
    expect(byId(3).error).toEqual({ code: "notFound", message: "unknown method 'shutdownEverything'" });
    expect(byId(4).error!.message).toBe("params must be an array");
    expect(byId(5).error!.message).toBe("configure takes a list of command lines");
    expect(byId(6).error!.code).toBe("badConfig");
    expect(byId(6).error!.message).toBe("Invalid web port '99999': must be an integer from 1 to 65535");
    expect(byId(7).result!.hostname).toBe("tandem");
    c.socket.destroy();
  });

  test("more requests in flight than the bound: the extra ones are refused by id", async () => {
    const c = await raw(join(root, "control.sock"));
    await c.next(1);
    // restart is serialized, so these stay in flight while the rest arrive.
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: 100 + i, method: "restart", params: [{ clean: false }] }));
    c.socket.write(lines.join("\n") + "\n");
    for (let i = 0; i < 400; i++) {
      const done = c.replies.filter((r) => (r as { result?: unknown; error?: unknown }).result !== undefined || (r as { error?: unknown }).error !== undefined);
      if (done.length >= 20) break;
      await Bun.sleep(25);
    }
    const finals = c.replies.filter((r) => "result" in (r as object) || "error" in (r as object)) as { id: number; error?: { code: string } }[];
    const refused = finals.filter((r) => r.error?.code === "limitExceeded");
    expect(finals).toHaveLength(20);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.id >= 100 && r.id < 120)).toBe(true);
    c.socket.destroy();
  }, 30_000);

  test("an oversized request line is refused and the connection closed; others carry on", async () => {
    const other = await connectControl(join(root, "control-ro.sock"));
    const c = await raw(join(root, "control.sock"));
    await c.next(1);
    const closed = new Promise<void>((resolve) => c.socket.once("close", () => resolve()));
    c.socket.write("x".repeat(requestBytesMax + 10));
    await closed;
    const error = c.replies[1] as { error: { code: string } };
    expect(error.error.code).toBe("limitExceeded");
    expect((await other.version()).product).toBe("Tandem");
    other.close();
  });

  test("write methods stream progress before their result; a vanished client harms nothing", async () => {
    const c = await connectControl(join(root, "control.sock"));
    const progress: string[] = [];
    await c.call("restart", [{ clean: false }], (p) => progress.push(p));
    expect(progress).toContain("restart: stopping services");
    expect(progress).toContain("restart: restart complete");

    const gone = await raw(join(root, "control.sock"));
    await gone.next(1);
    gone.socket.write(JSON.stringify({ id: 1, method: "restart", params: [{ clean: false }] }) + "\n");
    gone.socket.destroy();
    const result = await c.configure(["hostname after-vanish"]);
    expect(result.notes).toBeArray();
    expect((await c.version()).hostname).toBe("after-vanish");
    // restart clean without a store is refused, precisely.
    await expect(c.restart({ clean: true })).rejects.toThrow(/cannot clear the data store/);
    expect(appliance.services().find((s) => s.name === "web")!.state).toBe("running");
    c.close();
    expect(existsSync(join(root, "control.sock"))).toBe(true);
  });
});
