import {
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  ModifyImageAttributeCommand,
  RegisterImageCommand,
  type Image,
} from "@aws-sdk/client-ec2";
import type { Command } from "commander";
import { Ec2Error } from "../errors.js";
import { uploadDisk } from "./disk-upload.js";
import { clientOptions, ec2, withCloud, type ClientFlags } from "./endpoint.js";
import { amibootHome } from "../home.js";
import { refuseWhileServed } from "../store/server-lock.js";
import { progressBar } from "./progress.js";
import { runCommand, table } from "./run.js";


/**
 * `amiboot account …` (local) and `amiboot image …`: clients of the EC2
 * endpoint (`amiboot serve`) through the AWS SDK, as any AWS tool would be.
 */
export function addImageCommands(program: Command): void {
  program
    .command("account")
    .description("accounts of the local EC2 endpoint")
    .command("create")
    .description("create an account and print its access key")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) =>
      runCommand(
        o.json,
        () => {
          // Accounts live in the server's database: created offline, while no server writes it.
          refuseWhileServed(amibootHome(), "'amiboot account create'", "stop the server, create the account, then start it again");
          return withCloud((cloud) => cloud.accounts.create());
        },
        (c) => `account ${c.accountId}\n  AWS_ACCESS_KEY_ID=${c.accessKeyId}\n  AWS_SECRET_ACCESS_KEY=${c.secretAccessKey}\n`,
      ),
    );

  const image = program.command("image").description("AMIs, through the EC2 endpoint started by 'amiboot serve'");
  const client = clientOptions;

  const registering = (cmd: Command) =>
    client(cmd)
      .requiredOption("-n, --name <name>", "image name")
      .option("--architecture <arch>", "i386, x86_64 or arm64", "i386")
      .option("--virtualization-type <type>", "hvm or paravirtual", "hvm")
      .option("--root-device-name <dev>", "root device", "/dev/sda1")
      .option("-d, --description <text>", "description");

  registering(image.command("register").description("register an EBS-backed image from a snapshot").argument("<snapshot-id>")).action((snapshotId: string, o: ClientFlags & RegisterFlags) => runCommand(o.json, () => registerFromSnapshot(o, snapshotId), (r) => `${r.imageId}\n`));

  registering(image.command("import").description("upload a raw disk as a snapshot (EBS direct) and register it as an image").argument("<disk>")).action((disk: string, o: ClientFlags & RegisterFlags) => {
      const bar = progressBar("uploading", !o.json);
      return runCommand(
        o.json,
        async () => {
          let snapshotId: string;
          try {
            // Uploaded through the endpoint (EBS direct), as a snapshot of the caller's account in --region.
            snapshotId = (await uploadDisk(o, disk, { onProgress: bar.update })).id;
          } finally {
            bar.stop();
          }
          return { snapshotId, ...(await registerFromSnapshot(o, snapshotId)) };
        },
        (r) => `${r.imageId} (snapshot ${r.snapshotId})\n`,
      );
    });

  client(image.command("list").description("images you own or may launch"))
    .option("--all", "also public images of other accounts")
    .action((o: ClientFlags & { all?: boolean }) =>
      runCommand(
        o.json,
        async () => (await ec2(o).send(new DescribeImagesCommand(o.all ? {} : { ExecutableUsers: ["self"] }))).Images ?? [],
        (images) =>
          table(
            ["IMAGE", "NAME", "STATE", "ARCH", "VIRT", "ROOT", "OWNER", "PUBLIC"],
            images.map((i) => [i.ImageId ?? "", i.Name ?? "", i.State ?? "", i.Architecture ?? "", i.VirtualizationType ?? "", i.RootDeviceType ?? "", i.OwnerId ?? "", String(i.Public)]),
          ),
      ),
    );

  client(image.command("show").description("one image in full").argument("<image-id>")).action((id: string, o: ClientFlags) =>
    runCommand(o.json, async () => (await ec2(o).send(new DescribeImagesCommand({ ImageIds: [id] }))).Images![0]!, (i) => showImage(i)),
  );

  client(image.command("share").description("let an account (or everyone, with 'all') launch the image").argument("<image-id>").argument("<account-id|all>")).action(
    (id: string, who: string, o: ClientFlags) => runCommand(o.json, () => permission(o, id, who, "Add"), () => `shared ${id} with ${who}\n`),
  );
  client(image.command("unshare").description("take a launch permission back").argument("<image-id>").argument("<account-id|all>")).action(
    (id: string, who: string, o: ClientFlags) => runCommand(o.json, () => permission(o, id, who, "Remove"), () => `unshared ${id} from ${who}\n`),
  );

  client(image.command("tag").description("tag an image").argument("<image-id>").argument("<key=value...>")).action((id: string, pairs: string[], o: ClientFlags) =>
    runCommand(
      o.json,
      async () => {
        const tags = pairs.map((p) => {
          const at = p.indexOf("=");
          if (at < 1) throw new Ec2Error("InvalidParameterValue", `tag '${p}' is not key=value`, "cli.imageTag");
          return { Key: p.slice(0, at), Value: p.slice(at + 1) };
        });
        await ec2(o).send(new CreateTagsCommand({ Resources: [id], Tags: tags }));
        return { imageId: id, tags };
      },
      (r) => `tagged ${r.imageId}: ${r.tags.map((t) => `${t.Key}=${t.Value}`).join(", ")}\n`,
    ),
  );

  client(image.command("copy").description("copy an image into --region").argument("<image-id>"))
    .requiredOption("--source-region <region>", "region the image is in")
    .requiredOption("-n, --name <name>", "name of the copy")
    .option("--copy-tags", "copy the image's tags too")
    .action((id: string, o: ClientFlags & { sourceRegion: string; name: string; copyTags?: boolean }) =>
      runCommand(
        o.json,
        async () => ({ imageId: (await ec2(o).send(new CopyImageCommand({ SourceImageId: id, SourceRegion: o.sourceRegion, Name: o.name, CopyImageTags: o.copyTags === true }))).ImageId! }),
        (r) => `${r.imageId}\n`,
      ),
    );

  client(image.command("create").description("an image from an EBS-backed instance: its volumes snapshotted (incrementally)").argument("<instance-id>"))
    .requiredOption("-n, --name <name>", "image name")
    .option("-d, --description <text>", "description")
    .option("--no-reboot", "snapshot the running guest as it is (crash-consistent) instead of stopping it first")
    .action((id: string, o: ClientFlags & { name: string; description?: string; reboot: boolean }) =>
      runCommand(
        o.json,
        async () => ({ imageId: (await ec2(o).send(new CreateImageCommand({ InstanceId: id, Name: o.name, NoReboot: !o.reboot, ...(o.description ? { Description: o.description } : {}) }))).ImageId! }),
        (r) => `${r.imageId}\n`,
      ),
    );

  client(image.command("deregister").description("deregister an image (running instances carry on)").argument("<image-id>"))
    .option("--delete-snapshots", "also delete its snapshots that no other image uses")
    .action((id: string, o: ClientFlags & { deleteSnapshots?: boolean }) =>
      runCommand(
        o.json,
        async () => {
          await ec2(o).send(new DeregisterImageCommand({ ImageId: id, DeleteAssociatedSnapshots: o.deleteSnapshots === true }));
          return { imageId: id, deregistered: true };
        },
        () => `deregistered ${id}\n`,
      ),
    );
}

interface RegisterFlags {
  name: string;
  architecture: string;
  virtualizationType: string;
  rootDeviceName: string;
  description?: string;
}

async function registerFromSnapshot(o: ClientFlags & RegisterFlags, snapshotId: string): Promise<{ imageId: string }> {
  const r = await ec2(o).send(
    new RegisterImageCommand({
      Name: o.name,
      ...(o.description ? { Description: o.description } : {}),
      Architecture: o.architecture as "i386",
      VirtualizationType: o.virtualizationType,
      RootDeviceName: o.rootDeviceName,
      BlockDeviceMappings: [{ DeviceName: o.rootDeviceName, Ebs: { SnapshotId: snapshotId } }],
    }),
  );
  return { imageId: r.ImageId! };
}

async function permission(o: ClientFlags, id: string, who: string, op: "Add" | "Remove"): Promise<{ imageId: string }> {
  const entry = who === "all" ? { Group: "all" as const } : { UserId: who };
  await ec2(o).send(new ModifyImageAttributeCommand({ ImageId: id, LaunchPermission: { [op]: [entry] } }));
  return { imageId: id };
}

function showImage(i: Image): string {
  const lines = [
    `${i.ImageId}  ${i.Name}`,
    `  state ${i.State}, owner ${i.OwnerId}, ${i.Public ? "public" : "private"}, created ${i.CreationDate}`,
    `  ${i.Architecture}, ${i.VirtualizationType}, root ${i.RootDeviceType} ${i.RootDeviceName}`,
    ...(i.Description ? [`  ${i.Description}`] : []),
    ...(i.BlockDeviceMappings ?? []).map((m) => `  ${m.DeviceName}: ${m.Ebs ? `ebs ${m.Ebs.SnapshotId ?? ""} ${m.Ebs.VolumeSize ?? ""}`.trim() : (m.VirtualName ?? "no device")}`),
    ...((i.Tags ?? []).length ? [`  tags: ${(i.Tags ?? []).map((t) => `${t.Key}=${t.Value}`).join(", ")}`] : []),
  ];
  return lines.join("\n") + "\n";
}
