// `tandem store digest|verify --data DIR`: offline checks of a segment store. Both
// open the store read-only, so they work while an agent is running on it.
//   digest  prints `segments N digest HEX` (same line for two stores with the same keys)
//   verify  re-hashes every value, prints `checked N corrupt M`, then one line per
//           corrupt label and per broken invariant; exit 1 if anything is wrong
import { join } from "node:path";
import { TandemError } from "../errors.ts";
import { auditStore, storeDigest } from "../store/audit.ts";
import { parseArgs } from "./args.ts";

const usage = "usage: tandem store digest --data DIR | tandem store verify --data DIR";

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["data"]);
  const [action, ...extra] = args.positionals;
  if (!action || extra.length > 0 || (action !== "digest" && action !== "verify")) {
    console.error(usage);
    return 2;
  }
  const dir = args.options.get("data") ?? join(process.cwd(), "data");
  try {
    if (action === "digest") {
      console.log((await storeDigest(dir)).line());
      return 0;
    }
    const report = await auditStore(dir);
    const lines = [`checked ${report.checked} corrupt ${report.corrupt.length}`];
    for (const { label, reason } of report.corrupt) lines.push(`corrupt ${label} ${reason}`);
    for (const message of report.inconsistencies) lines.push(`inconsistent ${message}`);
    if (report.inconsistencyCount > report.inconsistencies.length) {
      lines.push(`inconsistent ... ${report.inconsistencyCount - report.inconsistencies.length} more`);
    }
    console.log(lines.join("\n"));
    return report.corrupt.length > 0 || report.inconsistencyCount > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof TandemError) {
      console.error(`tandem store ${action}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
