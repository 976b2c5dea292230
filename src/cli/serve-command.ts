import type { Command } from "commander";
import { Ec2Server } from "../api/server.js";
import { Cloud } from "../cloud/cloud.js";
import { DEFAULT_INSTANCES_OPTIONS } from "../cloud/instances.js";
import { amibootHome } from "../home.js";
import { parseNumber } from "./parse.js";

/** `amiboot serve`: the EC2 Query API endpoint for real AWS clients. */
export function addServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the EC2 Query API (SigV4) on loopback; state persists in $AMIBOOT_HOME")
    .option("--port <n>", "TCP port", parseNumber, 8773)
    .option("--host <addr>", "address to listen on (loopback unless told otherwise)", "127.0.0.1")
    .option("--marker <text>", "console text that marks user space in instances (status ok)", DEFAULT_INSTANCES_OPTIONS.marker)
    .option("--input-marker <text>", "console text after which an instance's UserData is typed on its console", DEFAULT_INSTANCES_OPTIONS.inputMarker)
    .option("--max-instances <n>", "instances whose VMs may run at once", parseNumber, DEFAULT_INSTANCES_OPTIONS.maxInstances)
    .option("--boot-slots <n>", "VMs that may boot at once (the rest wait, pending)", parseNumber, DEFAULT_INSTANCES_OPTIONS.bootSlots)
    .option("--standby-machines <n>", "warm launches (tag amiboot:warm): machines kept restored ahead of the next launch of each saved state; 0 for none", parseNumber, DEFAULT_INSTANCES_OPTIONS.standbyMachines)
    .addHelpText(
      "after",
      `
Then, for example:
  AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… aws ec2 describe-images --owners self \\
    --region us-east-1 --endpoint-url http://127.0.0.1:8773`,
    )
    .action(async (o: { port: number; host: string; marker: string; inputMarker: string; maxInstances: number; bootSlots: number; standbyMachines: number }) => {
      const cloud = new Cloud(amibootHome(), {
        instances: { marker: o.marker, inputMarker: o.inputMarker, maxInstances: o.maxInstances, bootSlots: o.bootSlots, standbyMachines: o.standbyMachines },
      });
      const creds = cloud.accounts.defaultAccount();
      const server = await Ec2Server.start(cloud, { port: o.port, host: o.host });
      process.stdout.write(
        [
          `amiboot: EC2 endpoint ${server.url} (state in ${cloud.home})`,
          `default account ${creds.accountId}:`,
          `  AWS_ACCESS_KEY_ID=${creds.accessKeyId}`,
          `  AWS_SECRET_ACCESS_KEY=${creds.secretAccessKey}`,
          "",
        ].join("\n"),
      );
      const stop = () => {
        // Running instances stop (EBS) or terminate (instance store), as their VMs end with the server.
        void server
          .close()
          .then(() => cloud.shutdown())
          .finally(() => process.exit(0));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
