// The optimization service's listener health, in process on real sockets: a listen port
// that someone else holds (EADDRINUSE) and an in-path address that is not configured
// here (EADDRNOTAVAIL, 192.0.2.1, TEST-NET-1: nothing is ever sent to it) make the
// service report why in health(), raise their alarm once (not on every retry), show 0
// in tandem_optimize_listener_up, and come up by themselves (port freed) or on the next
// configuration (address changed), clearing the alarm. Addresses: 127.0.15.20-29.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createConnection } from "node:net";
import type { ApplianceContext } from "../../agent/appliance-context.ts";
import { cloneConfig, defaultConfig, type ApplianceConfig } from "../../agent/config/types.ts";
import { EventLog } from "../../agent/events.ts";
import { MetricsRegistry } from "../../agent/metrics/registry.ts";
import { createOptimizationService } from "../../agent/optimize/index.ts";
import { listenRetryMaxMs } from "../../agent/optimize/listen-slot.ts";
import type { OptimizationService } from "../../agent/services.ts";
import { openSegmentStore } from "../../agent/store/index.ts";
import type { SegmentStore } from "../../agent/store/types.ts";
import { tempDir } from "./fixture.ts";

const addr = "127.0.15.20";
const unconfigured = "192.0.2.1";
const heldPort = 18120;
const servicePort = 18100;

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("listener health", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SegmentStore;
  let service: OptimizationService;
  const events = new EventLog(false);
  const metrics = new MetricsRegistry();
  const config: ApplianceConfig = cloneConfig(defaultConfig);
  config.interfaces.inpath = addr;
  config.servicePort = servicePort;
  const health = () => service.health?.() ?? ["health() missing"];
  const alarms = (name: string) => events.recent(1000).filter((e) => e.alarm === name);
  const rule = (listenPort: number) => ({
    listenPort, dstAddr: "127.0.15.29", dstPort: 9, targetAddr: "127.0.15.28", targetPort: 7800, backupAddr: null, backupPort: null,
  });

  beforeAll(async () => {
    tmp = tempDir("health");
    const version = { model: "TDM-1000", softwareVersion: "0.1.0" };
    store = await openSegmentStore({ dir: join(tmp.dir, "store"), ...version, durable: false });
    const ctx = { version, dataDir: tmp.dir, config: () => config, store, events, metrics, control: null } as unknown as ApplianceContext;
    service = createOptimizationService(ctx);
    await service.start();
  });

  afterAll(async () => {
    await service?.stop();
    await store?.close();
    tmp?.remove();
  });

  test("a healthy service reports no problem and every listener up", () => {
    expect(health()).toEqual([]);
    expect(metrics.render()).toContain(`tandem_optimize_listener_up{listener="inner channels",address="${addr}:${servicePort}"} 1`);
    expect(metrics.render()).toContain("tandem_optimize_listeners_failed 0");
  });

  test("a port held by someone else: degraded with the reason, one alarm, up by itself once freed", async () => {
    const holder = Bun.listen({ hostname: addr, port: heldPort, socket: { data() {}, open() {}, close() {} } });
    let held = true;
    try {
      config.inPathRules = [rule(heldPort)];
      const r = await service.applyConfig(config);
      const problem = `in-path rule ${heldPort} cannot listen on ${addr}:${heldPort} (address already in use)`;
      expect(r.notes.join("\n")).toContain(problem);
      expect(health()).toEqual([problem]);
      expect(metrics.render()).toContain(`tandem_optimize_listener_up{listener="in-path rule ${heldPort}",address="${addr}:${heldPort}"} 0`);
      expect(metrics.render()).toContain("tandem_optimize_listeners_failed 1");
      // Several retries later there is still one alarm, not one per retry.
      await Bun.sleep(1800);
      expect(alarms("rule_port_unavailable").length).toBe(1);
      expect(alarms("rule_port_unavailable")[0]!.message).toContain("address already in use");

      holder.stop(true);
      held = false;
      await until("the rule's listener to come up", () => health().length === 0, listenRetryMaxMs + 3000);
      expect(await canConnect(addr, heldPort)).toBe(true);
      expect(events.recent(1000).some((e) => e.message.includes(`in-path rule ${heldPort} listening on ${addr}:${heldPort}; alarm rule_port_unavailable cleared`))).toBe(true);
      expect(metrics.render()).toContain(`tandem_optimize_listener_up{listener="in-path rule ${heldPort}",address="${addr}:${heldPort}"} 1`);
      expect(metrics.render()).toContain("tandem_optimize_listeners_failed 0");
    } finally {
      if (held) holder.stop(true);
    }
  }, 20_000);

  test("an in-path address not configured here: both listeners say so; a good address clears it at once", async () => {
    config.interfaces.inpath = unconfigured;
    await service.applyConfig(config);
    expect(health()).toEqual([
      `inner channels cannot listen on ${unconfigured}:${servicePort} (address not available)`,
      `in-path rule ${heldPort} cannot listen on ${unconfigured}:${heldPort} (address not available)`,
    ]);
    expect(alarms("service_port_unavailable").length).toBe(1);

    config.interfaces.inpath = addr;
    await service.applyConfig(config);
    expect(health()).toEqual([]);
    expect(await canConnect(addr, heldPort)).toBe(true);
    expect(await canConnect(addr, servicePort)).toBe(true);
    const cleared = events.recent(1000).filter((e) => e.message.includes("(configuration changed); alarm"));
    expect(cleared.map((e) => e.message)).toEqual([
      `inner channels no longer wanted on ${unconfigured}:${servicePort} (configuration changed); alarm service_port_unavailable cleared`,
      `in-path rule ${heldPort} no longer wanted on ${unconfigured}:${heldPort} (configuration changed); alarm rule_port_unavailable cleared`,
    ]);
  }, 20_000);
});
