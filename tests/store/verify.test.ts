// Corruption and the offline commands: a byte flipped in the LMDB file and a bad
// value written through the raw databases are both found by `tandem store verify`
// (the real CLI, exit 1, label listed) and by a verified get, which removes the value
// and never serves it. `tandem store digest` prints the same line for two stores
// with the same keys written in different orders, and both commands work while a
// writer has the store open.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStoreDbs } from "../../agent/store/env.ts";
import { openSegmentStore } from "../../agent/store/index.ts";
import { hex, makeSegments, removeTempDirs, runCli, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

const opts = { model: "TDM-1000", softwareVersion: "0.1.0" };

describe("verify and digest", () => {
  test("a flipped byte in the data file is reported by verify and never served", async () => {
    const dir = tempDir();
    const store = await openSegmentStore({ dir, ...opts });
    const text = makeSegments(20, 31, "text");
    const [victim] = makeSegments(1, 32, "random");
    await store.putSegments([...text, victim!], "local");
    await store.close();
    expect(await runCli(["store", "verify", "--data", dir])).toMatchObject({ code: 0, stdout: "checked 21 corrupt 0\n" });

    // Random data is stored raw, so its bytes can be found in the file and flipped.
    const file = join(dir, "store", "data.mdb");
    const bytes = readFileSync(file);
    const probe = Buffer.from(victim!.data.subarray(4000, 4064));
    let flipped = 0;
    for (let at = bytes.indexOf(probe); at >= 0; at = bytes.indexOf(probe, at + 1)) {
      bytes[at + 10]! ^= 0x01;
      flipped++;
    }
    expect(flipped).toBeGreaterThan(0);
    writeFileSync(file, bytes);

    const report = await runCli(["store", "verify", "--data", dir]);
    expect(report.code).toBe(1);
    expect(report.stdout).toContain("checked 21 corrupt 1\n");
    expect(report.stdout).toContain(`corrupt ${hex(victim!.label)} value does not hash to its label`);

    const reopened = await openSegmentStore({ dir, ...opts });
    expect(reopened.get(victim!.label, { verify: true })).toBeUndefined();
    expect(reopened.stats().corruptFound).toBe(1);
    await reopened.idle();
    expect(reopened.has(victim!.label)).toBe(false);
    expect(reopened.get(text[3]!.label, { verify: true })).toEqual(text[3]!.data);
    await reopened.close();
    expect(await runCli(["store", "verify", "--data", dir])).toMatchObject({ code: 0, stdout: "checked 20 corrupt 0\n" });
  });

  test("a bad value written through the raw databases is found, removed, and the log stays consistent", async () => {
    const dir = tempDir();
    const store = await openSegmentStore({ dir, ...opts });
    const segments = makeSegments(8, 33, "text");
    await store.putSegments(segments, "local");
    await store.close();
    // Test-only raw path: change one literal of segment 0's LZ4 block (an LZ4 block
    // always ends in literals), so the value still decodes, to the wrong bytes.
    const dbs = openStoreDbs(join(dir, "store"), false);
    const value = new Uint8Array(dbs.segments.getBinary(segments[0]!.label)!);
    value[value.length - 2]! ^= 0x20;
    dbs.segments.putSync(segments[0]!.label, value);
    await dbs.root.close();

    const report = await runCli(["store", "verify", "--data", dir]);
    expect(report.code).toBe(1);
    expect(report.stdout).toStartWith("checked 8 corrupt 1\n");
    expect(report.stdout).toContain(`corrupt ${hex(segments[0]!.label)}`);

    const reopened = await openSegmentStore({ dir, ...opts });
    // Without verify the header and block are sound, so only a verified read catches it.
    expect(reopened.get(segments[0]!.label, { verify: true })).toBeUndefined();
    expect(reopened.has(segments[0]!.label)).toBe(false);
    // A repair sent right away (before the removal committed) is not taken for a duplicate.
    const repaired = reopened.putSegments([segments[0]!], "peer");
    await reopened.idle();
    const [entry] = await repaired;
    expect(entry!.seq).toBe(9);
    expect(reopened.get(segments[0]!.label, { verify: true })).toEqual(segments[0]!.data);
    expect(reopened.count()).toBe(8);
    expect(reopened.changesSince(0, 100).map((e) => hex(e.label))).toEqual([...segments.slice(1), segments[0]!].map((s) => hex(s.label)));
    await reopened.close();
    expect(await runCli(["store", "verify", "--data", dir])).toMatchObject({ code: 0, stdout: "checked 8 corrupt 0\n" });
  });

  test("verify reports a change log that disagrees with the segments", async () => {
    const dir = tempDir();
    const store = await openSegmentStore({ dir, ...opts });
    await store.putSegments(makeSegments(5, 35, "text"), "local");
    await store.close();
    const dbs = openStoreDbs(join(dir, "store"), false);
    dbs.changes.removeSync(3);
    await dbs.root.close();
    const report = await runCli(["store", "verify", "--data", dir]);
    expect(report.code).toBe(1);
    expect(report.stdout).toStartWith("checked 5 corrupt 0\n");
    expect(report.stdout).toMatch(/inconsistent segment [0-9a-f]{64} has no change entry \(seq 3\)/);
    expect(report.stdout).toContain("inconsistent counters say 5 change entries, log holds 4");
  });

  test("digest is the same for the same key set in any order, and works beside a live writer", async () => {
    const segments = makeSegments(30, 34, "text");
    const a = tempDir();
    const b = tempDir();
    const c = tempDir();
    const storeA = await openSegmentStore({ dir: a, ...opts });
    for (let i = 0; i < segments.length; i += 7) await storeA.putSegments(segments.slice(i, i + 7), "local");
    const storeB = await openSegmentStore({ dir: b, ...opts });
    await storeB.putSegments([...segments].reverse(), "peer");
    const storeC = await openSegmentStore({ dir: c, ...opts });
    await storeC.putSegments(segments.slice(1), "local");
    // Both stores are still open for writing here, as under a running agent.
    const [da, db, dc] = await Promise.all([a, b, c].map((dir) => runCli(["store", "digest", "--data", dir])));
    expect(da!.code).toBe(0);
    expect(da!.stdout).toMatch(/^segments 30 digest [0-9a-f]{64}\n$/);
    expect(db!.stdout).toBe(da!.stdout);
    expect(dc!.stdout).toMatch(/^segments 29 digest /);
    expect(dc!.stdout.split(" ")[3]).not.toBe(da!.stdout.split(" ")[3]);
    const verify = await runCli(["store", "verify", "--data", a]);
    expect(verify).toMatchObject({ code: 0, stdout: "checked 30 corrupt 0\n" });
    await Promise.all([storeA.close(), storeB.close(), storeC.close()]);
  });

  test("the CLI names a missing store and a bad command", async () => {
    const missing = await runCli(["store", "verify", "--data", join(tempDir(), "nothing")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no segment store at");
    const bad = await runCli(["store", "scrub", "--data", tempDir()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("usage: tandem store");
  });
});
