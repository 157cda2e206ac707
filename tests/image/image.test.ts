// The appliance image: built twice byte-identical, of a sane size, and self-contained:
// extracted into an empty root and started with a scrubbed environment (no repo, no
// Bun or Node on PATH, no node_modules outside the image) it serves the web UI and
// the console, reports the manifest's model and version, runs the store's worker
// threads from their bundles (and says so in its log, or says that it works inline
// when one is missing), pairs with a second image instance and refuses a third whose
// manifest says another software version.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage } from "../../image/build.ts";
import { startAgent, waitFor, type Agent } from "../helpers/agents.ts";
import type { RemoteControl } from "../../agent/control/client.ts";

/** An image above this is a packaging mistake (the Bun runtime alone is ~40 MB gzipped). */
const imageBytesMax = 120 * 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), "tandem-image-test-"));
const agents: Agent[] = [];
let image: { path: string; bytes: number; sha256: string };
let manifest: { model: string; softwareVersion: string; files: Record<string, string> };

function extract(archive: string, root: string): void {
  mkdirSync(root, { recursive: true });
  const tar = Bun.spawnSync(["tar", "-xzf", archive, "-C", root], { stderr: "pipe" });
  if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
}

/** Environment with nothing of the build host: an empty PATH directory, a fresh HOME. */
function scrubbedEnv(): Record<string, string> {
  const emptyBin = join(work, "empty-bin");
  mkdirSync(emptyBin, { recursive: true });
  return { PATH: emptyBin, HOME: join(work, "home"), LANG: "C" };
}

function imageCommand(root: string): string[] {
  return [join(root, "opt", "tandem", "bin", "tandem")];
}

function applianceConfig(address: string, extra: string[] = []): string[] {
  return [
    `hostname image-${address.split(".").pop()}`,
    `interface primary address ${address}`,
    `interface inpath address ${address}`,
    "web port 18080",
    ...extra,
  ];
}

/** The agent's startup line about its store workers (worker-path.ts), once it is there. */
async function storeWorkersLine(control: RemoteControl): Promise<{ severity: string; message: string } | null> {
  return await waitFor(async () => (await control.events(0, 1000)).find((e) => e.message.startsWith("store workers:")) ?? null, 30_000, 100);
}

beforeAll(async () => {
  image = await buildImage(join(work, "dist-a"));
  extract(image.path, join(work, "root"));
  manifest = JSON.parse(readFileSync(join(work, "root", "opt", "tandem", "manifest.json"), "utf8"));
}, 300_000);

afterAll(async () => {
  for (const agent of agents) await agent.stop("SIGKILL").catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

test("two builds of one commit are byte-identical, and the image is of a sane size", async () => {
  const again = await buildImage(join(work, "dist-b"));
  expect(again.sha256).toBe(image.sha256);
  expect(readFileSync(again.path).equals(readFileSync(image.path))).toBe(true);
  console.log(`image ${image.path.split("/").pop()}: ${image.bytes} bytes`);
  expect(image.bytes).toBeLessThan(imageBytesMax);
  expect(readFileSync(`${image.path}.sha256`, "utf8")).toContain(image.sha256);
}, 300_000);

test("the manifest lists every file with its sha256, and the files match", () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "package.json"), "utf8"));
  expect(manifest.model).toBe(pkg.tandem.model);
  expect(manifest.softwareVersion).toBe(pkg.tandem.softwareVersion);
  const paths = Object.keys(manifest.files);
  expect(paths).toContain("/opt/tandem/bin/bun");
  expect(paths).toContain("/etc/systemd/system/tandem.service");
  expect(paths).toContain("/etc/tandem/tandem.conf");
  for (const bundle of ["main", "prep-worker", "verify-worker"]) expect(paths).toContain(`/opt/tandem/agent/${bundle}.js`);
  for (const path of paths) {
    const hash = new Bun.CryptoHasher("sha256").update(readFileSync(join(work, "root", path))).digest("hex");
    expect(hash).toBe(manifest.files[path]!);
  }
});

test("an extracted image runs on its own: web UI, console, manifest version, pairing and a refused version", async () => {
  const root = join(work, "root");
  const env = scrubbedEnv();
  const master = await startAgent({
    name: "image-master", dir: join(work, "m"), command: imageCommand(root), env,
    configLines: applianceConfig("127.0.9.1", ["datastore sync enable", "datastore sync master", "datastore sync peer-ip 127.0.9.2", "datastore sync secret image-test-secret"]),
  });
  agents.push(master);
  // Both store workers run in threads of their own, loaded from the image's bundles.
  const workers = await storeWorkersLine(await master.control());
  const agentDir = join(root, "opt", "tandem", "agent");
  expect(workers?.severity).toBe("info");
  expect(workers?.message).toBe(`store workers: prep-worker running (${join(agentDir, "prep-worker.js")}), verify-worker running (${join(agentDir, "verify-worker.js")})`);
  const web = await fetch(master.web, { redirect: "manual" });
  expect([200, 302, 303, 401]).toContain(web.status);

  const consoleRun = Bun.spawn([...imageCommand(root), "console", "--connect", master.controlSocket], {
    stdin: new TextEncoder().encode("show version\nexit\n"), stdout: "pipe", stderr: "pipe", env,
  });
  const consoleText = await new Response(consoleRun.stdout).text();
  await consoleRun.exited;
  expect(consoleText).toContain(manifest.model);
  expect(consoleText).toContain(manifest.softwareVersion);

  const backup = await startAgent({
    name: "image-backup", dir: join(work, "b"), command: imageCommand(root), env,
    configLines: applianceConfig("127.0.9.2", ["datastore sync enable", "datastore sync peer-ip 127.0.9.1", "datastore sync secret image-test-secret"]),
  });
  agents.push(backup);
  const backupControl = await backup.control();
  const synced = await waitFor(async () => (await backupControl.syncStatus()).state === "in-sync", 60_000, 200);
  expect(synced).toBe(true);

  // A third instance whose manifest says another software version is refused. Its
  // image also lacks the verify worker's bundle: it verifies inline, and its log says so.
  const otherRoot = join(work, "root-other");
  cpSync(root, otherRoot, { recursive: true, verbatimSymlinks: true });
  rmSync(join(otherRoot, "opt", "tandem", "agent", "verify-worker.js"));
  const otherManifestPath = join(otherRoot, "opt", "tandem", "manifest.json");
  const otherManifest = JSON.parse(readFileSync(otherManifestPath, "utf8"));
  otherManifest.softwareVersion = `${manifest.softwareVersion}-other`;
  writeFileSync(otherManifestPath, JSON.stringify(otherManifest, null, 2));
  await backup.stop();
  const intruder = await startAgent({
    name: "image-other", dir: join(work, "o"), command: imageCommand(otherRoot), env,
    configLines: applianceConfig("127.0.9.2", ["datastore sync enable", "datastore sync peer-ip 127.0.9.1", "datastore sync secret image-test-secret"]),
  });
  agents.push(intruder);
  const intruderControl = await intruder.control();
  const otherWorkers = await storeWorkersLine(intruderControl);
  expect(otherWorkers?.severity).toBe("warning");
  expect(otherWorkers?.message).toContain("prep-worker running");
  expect(otherWorkers?.message).toContain(`verify-worker inline (no verify-worker.ts or verify-worker.js in ${join(otherRoot, "opt", "tandem", "agent")})`);
  expect(intruder.output()).toContain("<4>store: store workers:");
  const refused = await waitFor(async () => {
    const status = await intruderControl.syncStatus();
    return status.state === "refused" ? status : null;
  }, 60_000, 200);
  expect(refused?.refusedReason ?? "").toMatch(/version/i);
  const versionSeen = (await intruderControl.version()).softwareVersion;
  expect(versionSeen).toBe(otherManifest.softwareVersion);
}, 240_000);
