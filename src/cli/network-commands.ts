import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  ImportKeyPairCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from "@aws-sdk/client-ec2";
import { Option, type Command } from "commander";
import fs from "node:fs";
import { Ec2Error } from "../errors.js";
import { clientOptions, ec2, type ClientFlags } from "./endpoint.js";
import { runCommand, table } from "./run.js";

/** `amiboot key …` and `amiboot sg …`: key pairs and security groups, clients of the EC2 endpoint. */
export function addNetworkCommands(program: Command): void {
  const key = program.command("key").description("key pairs for SSH into instances (KeyName at launch), through the EC2 endpoint");
  clientOptions(
    key
      .command("create")
      .description("create a key pair; the private key is written to a file (mode 600) and never stored by the server")
      .argument("<name>")
      .addOption(new Option("--type <type>", "key type").choices(["ed25519", "rsa"]).default("ed25519"))
      .option("-o, --out <file>", "where the private key goes (default NAME.pem; an existing file is never overwritten)"),
  ).action((name: string, o: ClientFlags & { type: "ed25519" | "rsa"; out?: string }) =>
    runCommand(
      o.json,
      async () => {
        const file = o.out ?? `${name}.pem`;
        // Checked first, so a refused write never leaves a key the user cannot use.
        if (fs.existsSync(file)) throw new Ec2Error("InvalidParameterValue", `${file} exists: give another --out, or delete it first`, "cli.keyCreate");
        const r = await ec2(o).send(new CreateKeyPairCommand({ KeyName: name, KeyType: o.type }));
        fs.writeFileSync(file, r.KeyMaterial!.endsWith("\n") ? r.KeyMaterial! : `${r.KeyMaterial!}\n`, { mode: 0o600, flag: "wx" });
        return { keyName: r.KeyName, keyPairId: r.KeyPairId, keyFingerprint: r.KeyFingerprint, privateKeyFile: file };
      },
      (r) => `${r.keyName} (${r.keyPairId}) ${r.keyFingerprint}\nprivate key: ${r.privateKeyFile}\n`,
    ),
  );
  clientOptions(key.command("import").description("import an OpenSSH public key (ssh-ed25519 or ssh-rsa) as a key pair").argument("<name>").argument("<public-key-file>")).action(
    (name: string, file: string, o: ClientFlags) =>
      runCommand(
        o.json,
        async () => {
          const material = readFile(file, "cli.keyImport");
          const r = await ec2(o).send(new ImportKeyPairCommand({ KeyName: name, PublicKeyMaterial: material }));
          return { keyName: r.KeyName, keyPairId: r.KeyPairId, keyFingerprint: r.KeyFingerprint };
        },
        (r) => `${r.keyName} (${r.keyPairId}) ${r.keyFingerprint}\n`,
      ),
  );
  clientOptions(key.command("list").description("your key pairs in --region")).action((o: ClientFlags) =>
    runCommand(
      o.json,
      async () => (await ec2(o).send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [],
      (list) => table(["NAME", "ID", "TYPE", "FINGERPRINT"], list.map((k) => [k.KeyName ?? "", k.KeyPairId ?? "", k.KeyType ?? "", k.KeyFingerprint ?? ""])),
    ),
  );
  clientOptions(key.command("delete").description("delete a key pair (running instances keep the key they got)").argument("<name>")).action((name: string, o: ClientFlags) =>
    runCommand(
      o.json,
      async () => {
        await ec2(o).send(new DeleteKeyPairCommand({ KeyName: name }));
        return { keyName: name, deleted: true };
      },
      (r) => `deleted ${r.keyName}\n`,
    ),
  );

  const sg = program.command("sg").description("security groups: their TCP ingress rules decide which guest ports the host reaches");
  clientOptions(sg.command("create").description("create a security group in the default VPC").argument("<name>").option("-d, --description <text>", "its description", "created by amiboot")).action(
    (name: string, o: ClientFlags & { description: string }) =>
      runCommand(
        o.json,
        async () => ({ groupId: (await ec2(o).send(new CreateSecurityGroupCommand({ GroupName: name, Description: o.description }))).GroupId, groupName: name }),
        (r) => `${r.groupId}\n`,
      ),
  );
  clientOptions(sg.command("list").description("your security groups in --region and their ingress rules")).action((o: ClientFlags) =>
    runCommand(
      o.json,
      async () => (await ec2(o).send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [],
      (list) => table(["GROUP", "NAME", "VPC", "INGRESS"], list.map((g) => [g.GroupId ?? "", g.GroupName ?? "", g.VpcId ?? "", (g.IpPermissions ?? []).map(ruleText).join(", ")])),
    ),
  );
  const rule = (name: "allow" | "revoke", what: string) =>
    clientOptions(
      sg
        .command(name)
        .description(what)
        .argument("<group-id>")
        .requiredOption("-p, --port <port|from-to>", "a TCP port or range, e.g. 22 or 8000-8010")
        .option("--cidr <cidr>", "who may connect (the host is 127.0.0.1)", "0.0.0.0/0"),
    ).action((groupId: string, o: ClientFlags & { port: string; cidr: string }) =>
      runCommand(
        o.json,
        async () => {
          const [from, to] = portRange(o.port);
          const IpPermissions = [{ IpProtocol: "tcp", FromPort: from, ToPort: to, IpRanges: [{ CidrIp: o.cidr }] }];
          const client = ec2(o);
          if (name === "allow") await client.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions }));
          else await client.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions }));
          return { groupId, rule: ruleText(IpPermissions[0]!), [name === "allow" ? "allowed" : "revoked"]: true };
        },
        (r) => `${r.groupId}: ${name === "allow" ? "allowed" : "revoked"} ${r.rule}\n`,
      ),
    );
  rule("allow", "allow TCP from a CIDR to guest ports: running instances in the group get host ports at once");
  rule("revoke", "remove an ingress rule: the host ports it opened close");
  clientOptions(sg.command("delete").description("delete a security group no instance uses").argument("<group-id>")).action((groupId: string, o: ClientFlags) =>
    runCommand(
      o.json,
      async () => {
        await ec2(o).send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
        return { groupId, deleted: true };
      },
      (r) => `deleted ${r.groupId}\n`,
    ),
  );
}

function ruleText(p: IpPermission): string {
  const ports = p.FromPort === p.ToPort ? `${p.FromPort}` : `${p.FromPort}-${p.ToPort}`;
  const protocol = p.IpProtocol === "-1" ? "all" : p.IpProtocol;
  const from = [...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.UserIdGroupPairs ?? []).map((g) => g.GroupId)].join(" ");
  return `${protocol}/${protocol === "all" ? "*" : ports} from ${from || "nobody"}`;
}

function portRange(text: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const from = m ? Number(m[1]) : NaN;
  const to = m?.[2] !== undefined ? Number(m[2]) : from;
  if (!(from >= 0 && to <= 65535 && from <= to)) throw new Ec2Error("InvalidParameterValue", `--port takes a port or a range FROM-TO within 0-65535 (got '${text}')`, "cli.sgRule");
  return [from, to];
}

function readFile(file: string, op: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Ec2Error("InvalidParameterValue", `cannot read ${file}: ${(err as Error).message}`, op);
  }
}
