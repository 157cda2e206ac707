// The `tandem` entry points of DESIGN.md as real processes: each subcommand's exit code
// (0 done, 1 the work failed, 2 a command line it cannot take) and where its messages
// go, so scripts that call `tandem` can tell a typo from a failure.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repoRoot = join(import.meta.dir, "..", "..");
const root = mkdtempSync(join(tmpdir(), "tandem-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs `tandem ARGS` with stdin from `input`; returns exit code and both outputs. */
function tandem(args: string[], input: string | Uint8Array = ""): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([process.execPath, "agent/main.ts", ...args], {
    cwd: repoRoot, stdin: typeof input === "string" ? Buffer.from(input) : input, stdout: "pipe", stderr: "pipe",
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("tandem exit codes", () => {
  test("usage errors exit 2 with the reason on stderr, for every subcommand", () => {
    const dir = join(root, "usage");
    const cases: [string[], RegExp][] = [
      [[], /usage:/],
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["start", "--bogus"], /unknown option --bogus/],
      [["start", "extra", "--data", dir], /unexpected argument 'extra'/],
      [["start", "--data"], /option --data needs a value/],
      [["console", "--data", dir, "--connect", join(dir, "control.sock")], /either --data DIR or --connect SOCKET/],
      [["console", "--bogus"], /unknown option --bogus/],
      [["segment"], /usage: tandem segment/],
      [["segment", "README.md", "--min", "5"], /--min must be an integer from 64/],
      [["segment", "README.md", "--min", "8192", "--avg", "4096"], /--min <= --avg <= --max/],
      [["segment", "README.md", "--bogus", "1"], /unknown option --bogus/],
      [["compress", "--bogus"], /unknown option --bogus/],
      [["decompress", "extra"], /unexpected argument 'extra'/],
      [["encode"], /--data DIR is required/],
      [["decode"], /--data DIR is required/],
      [["encode", "--data", dir, "--bogus", "1"], /unknown option --bogus/],
      [["store"], /usage: tandem store digest/],
      [["store", "frob", "--data", dir], /usage: tandem store digest/],
      [["store", "digest", "--bogus"], /unknown option --bogus/],
    ];
    for (const [args, message] of cases) {
      const r = tandem(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    }
  });

  test("help exits 0 with the usage of every entry point on stdout", () => {
    const r = tandem(["help"]);
    expect(r.code).toBe(0);
    for (const entry of ["start", "console", "segment", "compress", "decompress", "encode", "decode", "store digest", "store verify"]) {
      expect(r.stdout).toContain(`tandem ${entry}`);
    }
  });

  test("a failure of the work exits 1; success exits 0", () => {
    const store = join(root, "store-a");
    const other = join(root, "store-b");
    expect(tandem(["store", "verify", "--data", join(root, "none")]).code).toBe(1);
    expect(tandem(["start", "--config", join(root, "none.conf"), "--data", join(root, "d")]).code).toBe(1);
    expect(tandem(["console", "--data", join(root, "none")]).code).toBe(1);
    expect(tandem(["segment", join(root, "none.bin")]).code).toBe(1);
    expect(tandem(["decompress"], "not an lz4 frame").code).toBe(1);
    expect(tandem(["decode", "--data", store], "not an ops stream").code).toBe(1);

    const input = Buffer.alloc(300_000);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7919) % 251;
    writeFileSync(join(root, "in.bin"), input);
    const segments = tandem(["segment", join(root, "in.bin")]);
    expect(segments.code).toBe(0);
    expect(segments.stdout).toMatch(/^0 \d+ [0-9a-f]{64}\n/);
    const first = Bun.spawnSync([process.execPath, "agent/main.ts", "encode", "--data", store], { cwd: repoRoot, stdin: input });
    expect(first.exitCode).toBe(0);
    // The second pass is all references: a store that lacks them cannot rebuild it.
    const second = Bun.spawnSync([process.execPath, "agent/main.ts", "encode", "--data", store], { cwd: repoRoot, stdin: input });
    expect(second.exitCode).toBe(0);
    const back = Bun.spawnSync([process.execPath, "agent/main.ts", "decode", "--data", store], { cwd: repoRoot, stdin: second.stdout });
    expect(back.exitCode).toBe(0);
    expect(Buffer.compare(back.stdout, input)).toBe(0);
    const missing = tandem(["decode", "--data", other], second.stdout);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/lacks/);
    const digest = tandem(["store", "digest", "--data", store]);
    expect(digest.code).toBe(0);
    expect(digest.stdout).toMatch(/^segments [1-9]\d* digest [0-9a-f]{64}\n$/);
    const verify = tandem(["store", "verify", "--data", store]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^checked [1-9]\d* corrupt 0\n$/);
  }, 60_000);
});
