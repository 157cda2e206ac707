// Failover benchmark: how much of the savings survive the master's death, how soon the
// backup takes over, and how much the old master must fetch to rejoin compared with
// what it missed. Prints one JSON object as its last line.
import { readFileSync } from "node:fs";
import { packageTar } from "./corpus.ts";
import { startLab } from "../helpers/failover-scenario.ts";

const mib = 1024 * 1024;
const before = readFileSync(packageTar("typescript", "5.6.3"));
const after = readFileSync(packageTar("typescript", "5.7.2"));
const files = new Map<string, Uint8Array>([["corpus", before], ["missed", after.subarray(after.length - 8 * mib)]]);

const lab = await startLab({ syncEnabled: true, files });
try {
  await lab.waitInSync(lab.backup);
  await lab.fetchThroughBranch("corpus");
  // Medians of three warm passes on each side (flush timing no longer moves segment
  // boundaries, so passes differ by acks and frame edges only: within ~3%).
  const warmPasses = async () => {
    const passes = [];
    for (let i = 0; i < 3; i++) passes.push(await lab.fetchThroughBranch("corpus"));
    return passes;
  };
  const median = <T extends { wanBytes: number }>(passes: T[]): T => [...passes].sort((a, b) => a.wanBytes - b.wanBytes)[1]!;
  const masterPasses = await warmPasses();
  const warmMaster = median(masterPasses);
  await lab.waitInSync(lab.backup);

  await lab.killMaster();
  const backupPasses = await warmPasses();
  const afterKill = backupPasses[0]!;
  const warmBackup = median(backupPasses);
  const backupControl = await lab.backup.control();
  const storedBefore = (await backupControl.datastore()).stats.storedBytes;
  await lab.fetchThroughBranch("missed");
  const missedBytes = (await backupControl.datastore()).stats.storedBytes - storedBefore;

  const master = await lab.restartMaster();
  await lab.waitInSync(master);
  const resync = await (await master.control()).syncStatus();

  const reductionViaMaster = warmMaster.bytes / warmMaster.wanBytes;
  const reductionViaBackup = warmBackup.bytes / warmBackup.wanBytes;
  console.log(JSON.stringify({
    corpus_bytes: before.length,
    warm_wan_bytes_via_master: masterPasses.map((p) => p.wanBytes),
    warm_wan_bytes_via_backup: backupPasses.map((p) => p.wanBytes),
    savings_kept: Number((reductionViaBackup / reductionViaMaster).toFixed(4)),
    first_pass_savings_kept: Number(((afterKill.bytes / afterKill.wanBytes) / reductionViaMaster).toFixed(4)),
    takeover_ms: Number(afterKill.firstByteMs.toFixed(1)),
    rejoin_resync_bytes: resync.receivedBytes,
    missed_bytes: missedBytes,
    intact: [...masterPasses, ...backupPasses].every((p) => p.intact),
  }));
} finally {
  await lab.stop();
}
