// RecentWindow against a plain model (an array, oldest first): random inserts and
// refreshes under random bounds keep exactly the newest entries that fit both bounds,
// through the ring's growth and re-layouts.
import { expect, test } from "bun:test";
import { RecentWindow } from "../../agent/sdr/window.ts";
import { xorshift } from "./helpers.ts";

test("RecentWindow keeps exactly the newest entries within its byte and entry bounds", () => {
  const next = xorshift(11);
  const rnd = (n: number) => Math.floor(next() * n);
  for (let trial = 0; trial < 20; trial++) {
    const entriesMax = 1 + rnd(200);
    const bytesMax = 1 + rnd(20_000);
    const window = new RecentWindow(bytesMax, entriesMax);
    const model: { label: Uint8Array; data: Uint8Array }[] = [];
    const labels = Array.from({ length: 300 }, (_, i) => {
      const label = new Uint8Array(32);
      label[0] = i & 255;
      label[1] = i >> 8;
      label[31] = trial;
      return label;
    });
    let mismatches = 0;
    for (let op = 0; op < 2000; op++) {
      const label = labels[rnd(labels.length)]!;
      const data = new Uint8Array(1 + rnd(500));
      window.set(label, data);
      const at = model.findIndex((e) => e.label === label);
      if (at >= 0) model.splice(at, 1);
      model.push({ label, data });
      let bytes = model.reduce((sum, e) => sum + e.data.length, 0);
      while ((bytes > bytesMax || model.length > entriesMax) && model.length > 1) bytes -= model.shift()!.data.length;
      if (window.size !== model.length) mismatches++;
      for (const l of labels) if (window.get(l) !== model.find((e) => e.label === l)?.data) mismatches++;
    }
    expect({ trial, mismatches }).toEqual({ trial, mismatches: 0 });
  }
});
