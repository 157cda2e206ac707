// `tandem encode` / `tandem decode` as real processes over real stores: a stream
// encoded against one store decodes byte-exact against another, a repeat is tiny and
// still decodes (the decoder's store learned the successors), a store lacking the
// segments fails clearly, naming the labels and their count, and bad input is refused.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, removeTempDirs, same, tempDir, textBytes, randomBytes } from "./helpers.ts";

afterAll(removeTempDirs);

function tandem(args: string[], stdinPath: string, stdoutPath: string): { code: number; stderr: string } {
  const proc = Bun.spawnSync([process.execPath, join(repoRoot, "agent", "main.ts"), ...args], {
    stdin: Bun.file(stdinPath),
    stdout: Bun.file(stdoutPath),
    stderr: "pipe",
    cwd: repoRoot,
  });
  return { code: proc.exitCode ?? -1, stderr: proc.stderr.toString() };
}

describe("tandem encode / decode", () => {
  test("round trip through two stores, cold then warm; a store lacking segments fails clearly", () => {
    const work = tempDir();
    const storeA = join(work, "a");
    const storeB = join(work, "b");
    const input = Buffer.concat([textBytes(1_500_000, 1), randomBytes(500_000, 2), textBytes(1_000_000, 1)]);
    const inPath = join(work, "in");
    writeFileSync(inPath, input);

    const cold = tandem(["encode", "--data", storeA], inPath, join(work, "ops1"));
    expect(cold).toEqual({ code: 0, stderr: expect.stringContaining("encoded") });
    const decoded = tandem(["decode", "--data", storeB], join(work, "ops1"), join(work, "out1"));
    expect(decoded.code).toBe(0);
    expect(same(readFileSync(join(work, "out1")), input)).toBe(true);

    const warm = tandem(["encode", "--data", storeA], inPath, join(work, "ops2"));
    expect(warm.code).toBe(0);
    const warmBytes = readFileSync(join(work, "ops2")).length;
    expect(warmBytes).toBeLessThan(input.length / 200);
    expect(tandem(["decode", "--data", storeB], join(work, "ops2"), join(work, "out2")).code).toBe(0);
    expect(same(readFileSync(join(work, "out2")), input)).toBe(true);

    // A third store has none of it, and offline there is no peer to ask.
    const missing = tandem(["decode", "--data", join(work, "c")], join(work, "ops2"), join(work, "out3"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/decode of frame 0 against .* failed/);
    expect(missing.stderr).toMatch(/[0-9a-f]{64}/);
    expect(missing.stderr).toMatch(/run of \d+ segments|\d+ segments? missing/);
  }, 60_000);

  test("bad input: not an ops stream, truncated stream, missing --data", () => {
    const work = tempDir();
    const junk = join(work, "junk");
    writeFileSync(junk, "hello, this is not an ops stream");
    const bad = tandem(["decode", "--data", join(work, "s")], junk, join(work, "out"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("not a tandem ops stream");

    const input = join(work, "in");
    writeFileSync(input, textBytes(200_000, 3));
    expect(tandem(["encode", "--data", join(work, "a")], input, join(work, "ops")).code).toBe(0);
    const ops = readFileSync(join(work, "ops"));
    writeFileSync(join(work, "cut"), ops.subarray(0, ops.length - 5));
    const cut = tandem(["decode", "--data", join(work, "b")], join(work, "cut"), join(work, "out"));
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain("ends inside a frame");

    const noData = tandem(["encode"], input, join(work, "ops3"));
    expect(noData.code).not.toBe(0);
    expect(noData.stderr).toContain("--data DIR is required");
  }, 60_000);
});
