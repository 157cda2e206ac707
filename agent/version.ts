// Model and software version of this appliance. An installed image carries them in
// its manifest (/opt/tandem/manifest.json, next to the agent); a checkout takes them
// from package.json's "tandem" field. `tandem start --model/--sw-version` override
// both (used by tests that need mismatched peers). Pairing compares these values.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface ApplianceVersion {
  model: string;
  softwareVersion: string;
  buildTime?: string;
}

const repoRoot = join(import.meta.dir, "..");

export function readApplianceVersion(overrides: Partial<ApplianceVersion> = {}): ApplianceVersion {
  const manifestPath = join(repoRoot, "manifest.json");
  let base: ApplianceVersion;
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    base = { model: manifest.model, softwareVersion: manifest.softwareVersion, buildTime: manifest.buildTime };
  } else {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
    base = { model: pkg.tandem.model, softwareVersion: pkg.tandem.softwareVersion };
  }
  return { ...base, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
}
