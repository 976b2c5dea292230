import { DeleteSnapshotCommand, DescribeSnapshotsCommand } from "@aws-sdk/client-ec2";
import type { Command } from "commander";
import { uploadDisk } from "./disk-upload.js";
import { clientOptions, ec2, withCloud, type ClientFlags } from "./endpoint.js";
import { amibootHome } from "../home.js";
import { refuseWhileServed } from "../store/server-lock.js";
import { VolumeStore, type SnapshotManifest } from "../volumes/store.js";
import { parseNumber } from "./parse.js";
import { progressBar } from "./progress.js";
import { mib, runCommand, table } from "./run.js";

const GiB = 1024 ** 3;

/** `amiboot snapshot …` and `amiboot volume …`: the EBS store under $AMIBOOT_HOME. */
export function addVolumeCommands(program: Command): void {
  const store = () => new VolumeStore(amibootHome());
  // These commands write the store directly: while `amiboot serve` runs, it is the only writer.
  const writableStore = (what: string) => {
    refuseWhileServed(amibootHome(), what, "stop the server first (its instances use these volumes)");
    return store();
  };

  const snapshot = program.command("snapshot").description(`EBS snapshots: blocks in the store under ${"$AMIBOOT_HOME"} (default ~/.amiboot), owned by an account in a region`);
  clientOptions(
    snapshot
      .command("import")
      .description("upload a raw disk image as a snapshot of your account in --region, through the endpoint's EBS direct APIs (512 KiB blocks, SHA-256 checked; zero blocks not sent)")
      .argument("<file>", "raw disk image")
      .option("-d, --description <text>", "a description"),
  ).action((file: string, o: ClientFlags & { description?: string }) => {
    const bar = progressBar("uploading", !o.json);
    return runCommand(
      o.json,
      async () => {
        try {
          return await uploadDisk(o, file, { ...(o.description ? { description: o.description } : {}), onProgress: bar.update });
        } finally {
          bar.stop();
        }
      },
      (s) => `${s.id}: ${mib(s.size)}, ${s.blocksUploaded} blocks uploaded, ${s.zeroBlocksSkipped} zero blocks skipped\n`,
    );
  });
  clientOptions(snapshot.command("list").description("your snapshots in --region, through the EC2 endpoint")).action((o: ClientFlags) =>
    runCommand(
      o.json,
      async () => (await ec2(o).send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots ?? [],
      (list) =>
        table(
          ["SNAPSHOT", "SIZE", "STATE", "CREATED", "DESCRIPTION"],
          list.map((s) => [s.SnapshotId ?? "", `${s.VolumeSize ?? "?"} GiB`, s.State ?? "", s.StartTime?.toISOString() ?? "", s.Description ?? ""]),
        ),
    ),
  );
  clientOptions(snapshot.command("delete").description("delete a snapshot no image uses; chunks nothing else uses are freed").argument("<snapshot-id>")).action((id: string, o: ClientFlags) =>
    runCommand(
      o.json,
      async () => {
        await ec2(o).send(new DeleteSnapshotCommand({ SnapshotId: id }));
        return { snapshotId: id, deleted: true };
      },
      (r) => `deleted ${r.snapshotId}\n`,
    ),
  );
  snapshot
    .command("verify")
    .description("check that every snapshot's chunks exist and match their SHA-256")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) =>
      runCommand(o.json, () => store().verify(), (r) => `${r.snapshots} snapshots, ${r.chunks} chunks checked, ${r.problems.length} problems\n${r.problems.map((p) => `  ${p}\n`).join("")}`),
    );

  const volume = program.command("volume").description("EBS volumes: lazy, copy-on-write, persistent; boot one with 'amiboot boot vol-…'");
  volume
    .command("create")
    .description("create a volume from a snapshot (or an empty one)")
    .option("-s, --snapshot <snapshot-id>", "snapshot to create it from")
    .option("--size <GiB>", "size in GiB (default: the snapshot's size; never smaller)", parseNumber)
    .option("--json", "print JSON")
    .action((o: { snapshot?: string; size?: number; json?: boolean }) =>
      runCommand(
        o.json,
        () => writableStore("'amiboot volume create'").createVolume({ ...(o.snapshot ? { snapshotId: o.snapshot } : {}), ...(o.size !== undefined ? { sizeBytes: o.size * GiB } : {}) }),
        (v) => `${v.id}: ${mib(v.size)}${v.snapshotId ? ` from ${v.snapshotId}` : ""}\n`,
      ),
    );
  volume
    .command("list")
    .description("list volumes")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) =>
      runCommand(
        o.json,
        () => store().listVolumes(),
        (list) => table(["VOLUME", "SIZE", "SNAPSHOT", "CREATED"], list.map((v) => [v.id, mib(v.size), v.snapshotId ?? "-", v.createdAt])),
      ),
    );
  volume
    .command("snapshot")
    .description("snapshot a volume: only the blocks it changed are stored (incremental)")
    .argument("<volume-id>")
    .option("-d, --description <text>", "a description")
    .option("--json", "print JSON")
    .action((id: string, o: { description?: string; json?: boolean }) =>
      runCommand(
        o.json,
        () => summary(writableStore("'amiboot volume snapshot'").snapshotVolume(id, o.description ? { description: o.description } : {})),
        (s) => `${s.id}: ${s.stats.changedBlocks} changed blocks since ${s.parent ?? "an empty volume"}, ${s.stats.newChunks} new chunks (${mib(s.stats.newBytes)} stored)\n`,
      ),
    );
  volume
    .command("export")
    .description("write a volume out as a raw image, to look at what a guest wrote")
    .argument("<volume-id>")
    .argument("<file>")
    .option("--json", "print JSON")
    .action((id: string, file: string, o: { json?: boolean }) => {
      const bar = progressBar("exporting", !o.json);
      return runCommand(
        o.json,
        () => {
          try {
            return { volumeId: id, file, bytes: store().exportVolume(id, file, bar.update) };
          } finally {
            bar.stop();
          }
        },
        (r) => `wrote ${r.file} (${mib(r.bytes)})\n`,
      );
    });
  volume
    .command("delete")
    .description("delete a volume and the chunks only it used")
    .argument("<volume-id>")
    .option("--json", "print JSON")
    .action((id: string, o: { json?: boolean }) =>
      runCommand(
        o.json,
        () => {
          refuseWhileServed(amibootHome(), "'amiboot volume delete'", "stop the server first (its instances use these volumes)");
          // The instance records say who uses the volume: a running or stopped instance's volume stays.
          return { volumeId: id, ...withCloud((cloud) => cloud.ebsVolumes.deleteLocal(id, "cli.volumeDelete")) };
        },
        (r) => `deleted ${r.volumeId} (${r.freedChunks} chunks freed)\n`,
      ),
    );
}

/** A snapshot without its block map (which can be thousands of lines). */
function summary(s: SnapshotManifest): Omit<SnapshotManifest, "blocks"> {
  const { blocks: _blocks, ...rest } = s;
  return rest;
}
