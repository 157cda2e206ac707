// Self-signed certificate for optional HTTPS: generated once, at the first boot that
// asks for HTTPS, with the openssl CLI (EC P-256, 10 years, subjectAltName = the
// management address and the host name) into <dataDir>/web-tls/{cert,key}.pem
// (key mode 0600), and reused afterwards so browsers can pin the exception.
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TandemError } from "../agent/errors.ts";

export interface TlsFiles {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  generated: boolean;
}

/** How long openssl may take to make the key and certificate. */
export const certGenerateTimeoutMs = 30_000;
export const certValidDays = 3650;

export function ensureSelfSignedCert(dataDir: string, address: string, hostname: string): TlsFiles {
  const dir = join(dataDir, "web-tls");
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  let generated = false;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const safeHost = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(hostname) ? hostname : "tandem";
    const san = [`IP:${address}`, `DNS:${safeHost}`, "DNS:localhost"].join(",");
    const result = Bun.spawnSync({
      cmd: ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", String(certValidDays), "-subj", `/CN=${safeHost}/O=Tandem appliance`, "-addext", `subjectAltName=${san}`,
        "-keyout", keyPath, "-out", certPath],
      stdout: "pipe", stderr: "pipe", timeout: certGenerateTimeoutMs,
    });
    if (!result.success) {
      throw new TandemError("unavailable", `cannot generate the web UI certificate with openssl: ${result.stderr.toString().trim().slice(0, 300) || `exit ${result.exitCode}`}`);
    }
    chmodSync(keyPath, 0o600);
    generated = true;
  }
  return { certPath, keyPath, cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), generated };
}
