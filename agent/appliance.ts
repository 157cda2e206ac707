// The appliance process (`tandem start`): the composition root. It loads the startup
// configuration through the same parser as the console (a bad line stops boot with
// file:line: reason), opens the segment store, creates the event log and metrics,
// serves the control API on the data directory's sockets, and starts the services
// through a small registry (data store sync, optimization, web UI). A service whose
// module fails to load or start is reported "failed" and the appliance runs without it.
// `restart` stops and recreates the services in process (clean: clears the store
// first); SIGTERM/SIGINT stop everything and exit 0. Prints one line to stdout when
// ready: `tandem: ready web=http://A:P control=<socket>`.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ApplianceContext } from "./appliance-context.ts";
import { parseArgs, usageError } from "./cli/args.ts";
import { loadConfigFile } from "./config/index.ts";
import { cloneConfig, defaultConfig, type ApplianceConfig } from "./config/types.ts";
import { createControlApi, type ControlledAppliance } from "./control/api.ts";
import { startControlServer, type ControlServer } from "./control/server.ts";
import type { ControlApi, ServiceInfo } from "./control/types.ts";
import { asTandemError, TandemError } from "./errors.ts";
import { EventLog } from "./events.ts";
import { MetricsRegistry } from "./metrics/registry.ts";
import type { ApplyResult, OptimizationService, Service, SyncService } from "./services.ts";
import type { SegmentStore } from "./store/types.ts";
import { openSegmentStore, registerStoreMetrics } from "./store/index.ts";
import { startStoreWorkers } from "./store/worker-path.ts";
import { readApplianceVersion, type ApplianceVersion } from "./version.ts";

const mib = 1024 * 1024;
/** How long one service may take to stop before shutdown goes on without it. */
export const serviceStopTimeoutMs = 10_000;

interface WebHandle { url: string; stop(): Promise<void> }

/** One entry of the service registry: how to load and create a service. */
interface ServiceEntry {
  name: "sync" | "optimization" | "web";
  label: string;
  /** Loads the module. A literal import() path, so `bun build` bundles it into the image. */
  load(): Promise<Record<string, unknown>>;
  needsStore: boolean;
  create(mod: Record<string, unknown>, ctx: ApplianceContext): Promise<Service>;
}

function bindOf(c: ApplianceConfig): string {
  return `${c.interfaces.primary}:${c.webPort}`;
}

const registry: ServiceEntry[] = [
  {
    name: "sync", label: "data store sync", needsStore: true,
    load: () => import("./sync/index.ts"),
    create: async (mod, ctx) => await (mod.createSyncService as (c: ApplianceContext) => SyncService | Promise<SyncService>)(ctx),
  },
  {
    name: "optimization", label: "optimization service", needsStore: true,
    load: () => import("./optimize/index.ts"),
    create: async (mod, ctx) => await (mod.createOptimizationService as (c: ApplianceContext) => OptimizationService | Promise<OptimizationService>)(ctx),
  },
  {
    name: "web", label: "web UI", needsStore: false,
    load: () => import("../web/server.ts"),
    create: async (mod, ctx) => {
      // The web server starts on creation; wrap it in the Service shape. Its address
      // changes take effect at `restart` (not live: the change may come from the UI itself).
      const start = mod.startWebServer as (c: ApplianceContext) => Promise<WebHandle>;
      let handle: WebHandle | null = null;
      let boundTo = "";
      const service: Service & { url(): string | null } = {
        start: async () => { boundTo = bindOf(ctx.config()); handle = await start(ctx); },
        stop: async () => { await handle?.stop(); handle = null; },
        applyConfig: async (c) => (bindOf(c) !== boundTo
          ? { notes: [], restartRequired: `web UI moves to ${bindOf(c)} after restart` } : { notes: [] }),
        url: () => handle?.url ?? null,
      };
      return service;
    },
  },
];

/** A store stand-in when the store module is absent: any use is an operating error. */
function unavailableStore(reason: string): SegmentStore {
  return new Proxy({} as SegmentStore, {
    get: (_t, prop) => {
      if (prop === "then") return undefined;
      throw new TandemError("unavailable", `data store unavailable: ${reason}`);
    },
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new TandemError("timeout", `${what} did not finish within ${ms} ms`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

export class Appliance implements ControlledAppliance {
  readonly startedMs = Date.now();
  readonly events = new EventLog();
  readonly metrics = new MetricsRegistry();
  readonly control: ControlApi;
  readonly ctx: ApplianceContext;
  private running: ApplianceConfig;
  private storeHandle: SegmentStore | null = null;
  private storeInfo: ServiceInfo = { name: "store", state: "stopped", detail: null };
  private readonly instances = new Map<string, Service>();
  private readonly infos = new Map<string, ServiceInfo>();
  private controlServer: ControlServer | null = null;
  /** Per service, the part of the running config that waits for `restart`. */
  private readonly pendingRestart = new Map<string, string>();

  constructor(
    readonly version: ApplianceVersion,
    readonly dataDir: string,
    readonly startupConfigPath: string,
    config: ApplianceConfig,
  ) {
    this.running = cloneConfig(config);
    for (const e of registry) this.infos.set(e.name, { name: e.name, state: "stopped", detail: null });
    this.control = createControlApi(this);
    const self = this;
    this.ctx = {
      version, dataDir,
      config: () => self.running,
      get store() { return self.storeHandle ?? unavailableStore(self.storeInfo.detail ?? self.storeInfo.state); },
      events: this.events, metrics: this.metrics, control: this.control,
      sync: () => self.sync(),
    };
    this.metrics.gauge("tandem_appliance_uptime_seconds", "Seconds since the agent started", () => (Date.now() - this.startedMs) / 1000);
  }

  config(): ApplianceConfig { return this.running; }
  store(): SegmentStore | null { return this.storeHandle; }
  optimizer(): OptimizationService | null { return (this.instances.get("optimization") as OptimizationService | undefined) ?? null; }
  sync(): SyncService | null { return (this.instances.get("sync") as SyncService | undefined) ?? null; }
  services(): ServiceInfo[] { return [{ ...this.storeInfo }, ...registry.map((e) => this.serviceInfo(e.name))]; }
  /** A running service that reports problems (health()) is shown degraded, with them. */
  private serviceInfo(name: string): ServiceInfo {
    const info = { ...this.infos.get(name)! };
    const problems = info.state === "running" ? this.instances.get(name)?.health?.() ?? [] : [];
    return problems.length > 0 ? { ...info, state: "degraded", detail: problems.join("; ") } : info;
  }
  restartRequired(): string | null {
    return this.pendingRestart.size > 0 ? [...this.pendingRestart.values()].join("; ") : null;
  }
  webUrl(): string | null {
    const web = this.instances.get("web") as (Service & { url(): string | null }) | undefined;
    return web?.url() ?? null;
  }
  controlSocket(): string | null { return this.controlServer?.socketPath ?? null; }

  async openStore(): Promise<void> {
    const ds = this.running.datastore;
    // An unusable store stops boot: running without it would silently lose the savings.
    this.storeHandle = await openSegmentStore({
      dir: this.dataDir, capacityBytes: ds.capacityMb * mib, policy: ds.replacementPolicy,
      model: this.version.model, softwareVersion: this.version.softwareVersion, events: this.events,
    });
    registerStoreMetrics(this.metrics, () => this.storeHandle);
    // Loaded now rather than at the first large batch, so the log says at boot which run.
    startStoreWorkers(this.events);
    this.storeInfo = { name: "store", state: "running", detail: this.storeHandle.path };
  }

  async startControl(): Promise<void> {
    this.controlServer = await startControlServer(this.control, { dataDir: this.dataDir, events: this.events });
  }

  private async startService(entry: ServiceEntry): Promise<void> {
    const info = this.infos.get(entry.name)!;
    if (entry.needsStore && !this.storeHandle) {
      Object.assign(info, { state: "stopped", detail: `needs the data store (${this.storeInfo.state})` });
      return;
    }
    let mod: Record<string, unknown>;
    try {
      mod = await entry.load();
    } catch (err) {
      Object.assign(info, { state: "failed", detail: `cannot load: ${asTandemError(err).message}` });
      this.events.emit("error", entry.name, `${entry.label} failed to load: ${asTandemError(err).message}`);
      return;
    }
    try {
      Object.assign(info, { state: "starting", detail: null });
      const service = await entry.create(mod, this.ctx);
      this.instances.set(entry.name, service);
      await service.start();
      Object.assign(info, { state: "running", detail: entry.name === "web" ? this.webUrl() : null });
      this.events.emit("info", entry.name, `${entry.label} started`);
    } catch (err) {
      this.instances.delete(entry.name);
      Object.assign(info, { state: "failed", detail: asTandemError(err).message });
      this.events.emit("error", entry.name, `${entry.label} failed to start: ${asTandemError(err).message}`, "service_failed");
    }
  }

  private async stopService(entry: ServiceEntry): Promise<void> {
    const service = this.instances.get(entry.name);
    if (!service) return;
    const info = this.infos.get(entry.name)!;
    Object.assign(info, { state: "stopping", detail: null });
    try {
      await withTimeout(service.stop(), serviceStopTimeoutMs, `stopping ${entry.label}`);
    } catch (err) {
      this.events.emit("error", entry.name, `${entry.label}: ${asTandemError(err).message}`);
    }
    this.instances.delete(entry.name);
    Object.assign(info, { state: "stopped", detail: null });
  }

  /** Starts the services; `which` limits it (restart keeps the web UI up). */
  async startServices(which: (e: ServiceEntry) => boolean = () => true): Promise<void> {
    for (const entry of registry) if (which(entry)) await this.startService(entry);
  }

  async stopServices(which: (e: ServiceEntry) => boolean = () => true): Promise<void> {
    for (const entry of [...registry].reverse()) if (which(entry)) await this.stopService(entry);
  }

  async applyConfig(next: ApplianceConfig): Promise<ApplyResult> {
    const prev = this.running;
    this.running = cloneConfig(next);
    const notes: string[] = [];
    const restart: string[] = [];
    try {
      const ds = next.datastore;
      if (this.storeHandle && (ds.capacityMb !== prev.datastore.capacityMb || ds.replacementPolicy !== prev.datastore.replacementPolicy)) {
        this.storeHandle.setCapacity(ds.capacityMb * mib, ds.replacementPolicy);
        notes.push(`data store capacity ${ds.capacityMb} MiB, ${ds.replacementPolicy}`);
      }
      for (const entry of registry) {
        const service = this.instances.get(entry.name);
        if (!service) continue;
        const r = await service.applyConfig(this.running);
        notes.push(...r.notes);
        if (r.restartRequired) restart.push(r.restartRequired);
        // Each answer compares the whole running config, so it replaces the last one.
        if (r.restartRequired) this.pendingRestart.set(entry.name, r.restartRequired);
        else this.pendingRestart.delete(entry.name);
      }
    } catch (err) {
      // A service refused the change: go back to what ran before, everywhere.
      this.running = prev;
      for (const service of this.instances.values()) await service.applyConfig(prev).catch(() => undefined);
      throw asTandemError(err);
    }
    if (restart.length > 0) this.events.emit("warning", "config", `restart required: ${restart.join("; ")}`);
    return { notes, ...(restart.length > 0 ? { restartRequired: restart.join("; ") } : {}) };
  }

  async restart(options: { clean: boolean }): Promise<void> {
    if (options.clean && !this.storeHandle) {
      throw new TandemError("unavailable", `cannot clear the data store: ${this.storeInfo.detail ?? this.storeInfo.state}`);
    }
    const web = this.instances.get("web") as (Service & { url(): string | null }) | undefined;
    const webMoves = web !== undefined && (await web.applyConfig(this.running)).restartRequired !== undefined;
    const restarts = (e: ServiceEntry) => e.name !== "web" || webMoves || !web;
    this.events.emit("notice", "restart", options.clean ? "stopping services (clean restart)" : "stopping services");
    await this.stopServices(restarts);
    if (options.clean) {
      const store = this.storeHandle!;
      this.events.emit("notice", "restart", `clearing the data store (${store.count()} segments)`);
      const identity = await store.clear();
      this.events.emit("notice", "restart", `data store cleared; new store id ${identity.storeId}`);
    }
    const ds = this.running.datastore;
    this.storeHandle?.setCapacity(ds.capacityMb * mib, ds.replacementPolicy);
    for (const entry of registry) {
      if (!restarts(entry)) continue;
      this.events.emit("notice", "restart", `starting ${entry.label}`);
      await this.startService(entry);
    }
    this.pendingRestart.clear();
    this.events.emit("notice", "restart", "restart complete");
  }

  async shutdown(): Promise<void> {
    this.events.emit("notice", "appliance", "stopping");
    await this.stopServices();
    await this.controlServer?.stop().catch(() => undefined);
    if (this.storeHandle) {
      await withTimeout(this.storeHandle.close(), serviceStopTimeoutMs, "closing the data store").catch((err) =>
        this.events.emit("error", "store", asTandemError(err).message));
      this.storeHandle = null;
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["config", "data", "model", "sw-version"]);
  if (args.positionals.length > 0) throw usageError(`unexpected argument '${args.positionals[0]}'`);
  const dataDir = resolve(args.options.get("data") ?? "./data");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const version = readApplianceVersion({ model: args.options.get("model"), softwareVersion: args.options.get("sw-version") });
  const configFile = args.options.get("config");
  const startupConfigPath = configFile ? resolve(configFile) : join(dataDir, "tandem.conf");
  // An explicit --config must exist (a typo must not boot a default appliance);
  // without one, <data dir>/tandem.conf is used once `write memory` has created it.
  const config = configFile || existsSync(startupConfigPath)
    ? loadConfigFile(startupConfigPath, defaultConfig)
    : cloneConfig(defaultConfig);

  const appliance = new Appliance(version, dataDir, startupConfigPath, config);
  appliance.events.emit("notice", "appliance",
    `Tandem ${version.model} ${version.softwareVersion} starting (data ${dataDir}, config ${existsSync(startupConfigPath) ? startupConfigPath : "built-in defaults"})`);
  await appliance.openStore();
  try {
    await appliance.startControl();
  } catch (err) {
    await appliance.shutdown();
    throw err;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    appliance.events.emit("notice", "appliance", `${signal}: shutting down`);
    appliance.shutdown().then(() => process.exit(0), (err) => {
      process.stderr.write(`<3>appliance: shutdown failed: ${asTandemError(err).message}\n`);
      process.exit(1);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  await appliance.startServices();
  appliance.events.emit("notice", "appliance", "ready");
  process.stdout.write(`tandem: ready web=${appliance.webUrl() ?? "none"} control=${appliance.controlSocket()}\n`);
  return 0;
}
