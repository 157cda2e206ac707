// The admin credential of the web UI: one user, its password hashed with Bun.password
// (argon2id), kept in <dataDir>/web-admin.json with mode 0600 and replaced atomically
// (write to a temporary file, fsync, rename). Until this file exists the UI is in
// first-boot mode: there is no default password.
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TandemError } from "../agent/errors.ts";

export const adminFileName = "web-admin.json";
export const adminUsername = "admin";

export interface AdminRecord {
  username: string;
  passwordHash: string;
  createdMs: number;
}

export class AdminStore {
  readonly path: string;
  private record: AdminRecord | null = null;

  constructor(dataDir: string) {
    this.path = join(dataDir, adminFileName);
    this.record = this.load();
  }

  /** Reads the file; a file that exists but is unreadable is an error, never "no password". */
  private load(): AdminRecord | null {
    if (!existsSync(this.path)) return null;
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(this.path, "utf8"));
    } catch (err) {
      throw new TandemError("corrupt", `${this.path}: not valid JSON (${(err as Error).message}); fix or remove it to set a new admin password`);
    }
    const v = value as Partial<AdminRecord> | null;
    if (typeof v?.username !== "string" || typeof v.passwordHash !== "string" || !v.passwordHash.startsWith("$") || typeof v.createdMs !== "number") {
      throw new TandemError("corrupt", `${this.path}: missing username, passwordHash or createdMs; fix or remove it to set a new admin password`);
    }
    return { username: v.username, passwordHash: v.passwordHash, createdMs: v.createdMs };
  }

  isSet(): boolean {
    return this.record !== null;
  }

  username(): string | null {
    return this.record?.username ?? null;
  }

  async setPassword(username: string, password: string): Promise<void> {
    const record: AdminRecord = {
      username,
      passwordHash: await Bun.password.hash(password, { algorithm: "argon2id" }),
      createdMs: Date.now(),
    };
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, JSON.stringify(record, null, 2) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600); // openSync's mode is masked by the umask
    renameSync(tmp, this.path);
    this.record = record;
  }

  /** Always spends one hash verification, also for an unknown user, so timing tells nothing. */
  async verify(username: string, password: string): Promise<boolean> {
    const record = this.record;
    if (!record) return false;
    const ok = await Bun.password.verify(password, record.passwordHash);
    return ok && username === record.username;
  }
}
