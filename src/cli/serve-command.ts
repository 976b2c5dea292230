import type { Command } from "commander";
import { Ec2Server } from "../api/server.js";
import { Cloud } from "../cloud/cloud.js";
import { amibootHome } from "../home.js";
import { parseNumber } from "./parse.js";

/** `amiboot serve`: the EC2 Query API endpoint for real AWS clients. */
export function addServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the EC2 Query API (SigV4) on loopback; state persists in $AMIBOOT_HOME")
    .option("--port <n>", "TCP port", parseNumber, 8773)
    .option("--host <addr>", "address to listen on (loopback unless told otherwise)", "127.0.0.1")
    .addHelpText(
      "after",
      `
Then, for example:
  AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… aws ec2 describe-images --owners self \\
    --region us-east-1 --endpoint-url http://127.0.0.1:8773`,
    )
    .action(async (o: { port: number; host: string }) => {
      const cloud = new Cloud(amibootHome());
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
        void server.close().then(() => {
          cloud.close();
          process.exit(0);
        });
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
