import type { MetadataOptions } from "./imds.js";
import type { InstanceFacts } from "./metadata.js";

/**
 * What the control plane hands a booting instance about its network, inside
 * the boot plan (structured-clone safe), and the changes it sends to a
 * running one. The network never reads the database: these are its only
 * inputs.
 */
export interface NetworkPlan {
  nic: "ne2k" | "virtio";
  /** The guest's gateway, DHCP and DNS server (the .1 of the guest's /24). */
  routerIp: string;
  /** The instance's private IPv4 address: what DHCP gives the guest. */
  privateIp: string;
  /** The NIC's MAC, lowercase `aa:bb:cc:dd:ee:ff`, stable across stop and start. */
  mac: string;
  /** The metadata tree's facts (IMDS at 169.254.169.254). */
  facts: InstanceFacts;
  metadataOptions: MetadataOptions;
  /** Host listeners that reach guest ports, as the instance's security groups allow. */
  forwards: PortForwardSpec[];
}

/** One host listener for one guest port. */
export interface PortForwardSpec {
  guestPort: number;
  /** The instance's own loopback address (`127.x.y.z`, its PublicIpAddress) unless the user asked for another. */
  hostAddress: string;
  hostPort: number;
}

/** How a forward fared: a taken host port is reported, and the instance keeps running. */
export interface PortForwardStatus extends PortForwardSpec {
  state: "listening" | "failed" | "closed";
  /** Why it failed, for people (EC2-style code first). */
  reason?: string;
}

/** Host -> worker: a running instance's network changes (rules revoked or added, ModifyInstanceMetadataOptions). */
export interface NetworkUpdate {
  forwards?: PortForwardSpec[];
  metadataOptions?: MetadataOptions;
}

/**
 * The host port that reaches a guest port on the instance's loopback
 * address: the same number from 1024 up; below, 10000 + the port, since an
 * unprivileged user cannot bind ports under 1024 (so SSH is port 10022).
 */
export function hostPortFor(guestPort: number): number {
  return guestPort >= 1024 ? guestPort : LOW_PORT_OFFSET + guestPort;
}

const LOW_PORT_OFFSET = 10_000;

/**
 * The guest port a rule's port opens: the port itself, except that a host
 * port standing for a low guest port (10000 + P, P < 1024) opens P. Clients
 * that authorize the port they connect to (Packer authorizes its ssh_port,
 * 10022) then reach the guest's P; guest ports 10001-11023 themselves are
 * not reachable from the host.
 */
export function guestPortFor(rulePort: number): number {
  return rulePort > LOW_PORT_OFFSET && rulePort < LOW_PORT_OFFSET + 1024 ? rulePort - LOW_PORT_OFFSET : rulePort;
}
