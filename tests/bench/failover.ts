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
  const warmMaster = await lab.fetchThroughBranch("corpus");
  await lab.waitInSync(lab.backup);

  await lab.killMaster();
  const afterKill = await lab.fetchThroughBranch("corpus");
  const backupControl = await lab.backup.control();
  const storedBefore = (await backupControl.datastore()).stats.storedBytes;
  await lab.fetchThroughBranch("missed");
  const missedBytes = (await backupControl.datastore()).stats.storedBytes - storedBefore;

  const master = await lab.restartMaster();
  await lab.waitInSync(master);
  const resync = await (await master.control()).syncStatus();

  const reductionViaMaster = warmMaster.bytes / warmMaster.wanBytes;
  const reductionViaBackup = afterKill.bytes / afterKill.wanBytes;
  console.log(JSON.stringify({
    corpus_bytes: before.length,
    warm_wan_bytes_via_master: warmMaster.wanBytes,
    warm_wan_bytes_via_backup: afterKill.wanBytes,
    savings_kept: Number((reductionViaBackup / reductionViaMaster).toFixed(4)),
    takeover_ms: Number(afterKill.firstByteMs.toFixed(1)),
    rejoin_resync_bytes: resync.receivedBytes,
    missed_bytes: missedBytes,
    intact: warmMaster.intact && afterKill.intact,
  }));
} finally {
  await lab.stop();
}
