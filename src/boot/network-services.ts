import { Ec2Error } from "../errors.js";
import { MetadataService } from "../net/imds.js";
import type { NetworkPlan, NetworkUpdate, PortForwardSpec, PortForwardStatus } from "../net/network-plan.js";
import { PortForward } from "../net/port-forward.js";
import type { GuestNetwork } from "./network.js";
import type { Vm } from "./vm.js";

/**
 * What a running instance's network serves, in its VM's worker: the
 * metadata service at 169.254.169.254 and the host listeners its security
 * groups open. Rules change while it runs (`update`); everything closes with
 * the VM, so a stopped or terminated instance leaves no port open.
 */
export class NetworkServices {
  private readonly forwards = new Map<string, { spec: PortForwardSpec; forward?: PortForward; status: PortForwardStatus }>();
  private closed = false;

  private constructor(
    private readonly network: GuestNetwork,
    private readonly metadata: MetadataService,
    private readonly report: (forwards: PortForwardStatus[]) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Attaches the VM's network and opens the plan's forwards; a forward that cannot listen is reported, never fatal. */
  static async start(vm: Vm, plan: NetworkPlan, report: (forwards: PortForwardStatus[]) => void, log: (line: string) => void): Promise<NetworkServices> {
    const metadata = new MetadataService(plan.facts, plan.metadataOptions);
    const network = await vm.attachNetwork({ metadata, mac: plan.mac });
    const services = new NetworkServices(network, metadata, report, log);
    await services.update({ forwards: plan.forwards });
    return services;
  }

  /** Applies new rules or metadata options: removed forwards close with their connections, new ones open. */
  async update(update: NetworkUpdate): Promise<void> {
    if (this.closed) return;
    if (update.metadataOptions) this.metadata.setOptions(update.metadataOptions);
    if (!update.forwards) return;
    const wanted = new Map(update.forwards.map((f) => [key(f), f]));
    const closing = [...this.forwards.entries()].filter(([k]) => !wanted.has(k));
    for (const [k] of closing) this.forwards.delete(k);
    await Promise.all(closing.map(([, f]) => f.forward?.close()));
    await Promise.all(
      [...wanted].filter(([k]) => !this.forwards.has(k)).map(async ([k, spec]) => {
        const entry: { spec: PortForwardSpec; forward?: PortForward; status: PortForwardStatus } = { spec, status: { ...spec, state: "listening" } };
        this.forwards.set(k, entry);
        try {
          entry.forward = await PortForward.open({ ...spec, openGuest: (port) => this.network.openGuest(port), log: this.log });
          // Closed while it was opening.
          if (this.closed || this.forwards.get(k) !== entry) await entry.forward.close();
        } catch (err) {
          const e = err instanceof Ec2Error ? err : new Ec2Error("HostPortUnavailable", (err as Error).message, "boot.networkServices");
          entry.status = { ...spec, state: "failed", reason: `${e.code}: ${e.message}` };
        }
      }),
    );
    this.report([...this.forwards.values()].map((f) => f.status));
  }

  /** Closes every forward and the metadata service, and detaches from the guest. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.network.detach();
    const open = [...this.forwards.values()];
    this.forwards.clear();
    await Promise.all(open.map((f) => f.forward?.close()));
    this.metadata.close();
  }
}

function key(f: PortForwardSpec): string {
  return `${f.hostAddress}:${f.hostPort}>${f.guestPort}`;
}
