import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Ec2Error } from "../errors.js";
import { connectedStream, type GuestConnection, GuestStream } from "../net/guest-stream.js";

/**
 * The v86 side of an instance's network: the only module that knows the
 * shapes of v86's "fetch" network adapter (a user-space DHCP/ARP/TCP stack;
 * facts in the shared v86-network notes). It closes the adapter's way out to
 * the host's network, routes guest connections to amiboot's own services
 * (today the metadata service at 169.254.169.254:80; everything else is
 * refused with a reset), and opens host-to-guest connections for port
 * forwards. The services themselves take a Duplex and know nothing of v86.
 */

export const METADATA_ADDRESS = "169.254.169.254";
export const METADATA_PORT = 80;

/** What the guest's network needs to know to start (the NIC and the addresses its DHCP hands out). */
export interface GuestNetworkConfig {
  nic: "ne2k" | "virtio";
  /** The gateway, DHCP and DNS server the guest sees. */
  routerIp: string;
  /** The address DHCP gives the guest (/24 with the router). */
  vmIp: string;
}

/** The service a guest connection to 169.254.169.254:80 is handed to (a `MetadataService`). */
export interface MetadataEndpoint {
  handle(conn: Duplex): void;
}

export interface AttachOptions {
  metadata: MetadataEndpoint;
  /**
   * The instance's own MAC (`aa:bb:cc:dd:ee:ff`, stable across stop and
   * start); v86 otherwise picks a random `00:22:15:…` per machine. Set before
   * the guest's driver reads it; a restored state keeps the MAC it saved.
   */
  mac?: string;
  /** How long to wait for v86 to create its adapter after `new V86` (it does so asynchronously). */
  adapterTimeoutMs?: number;
  /** How long a host-to-guest handshake may take before it is given up (v86 never resends a SYN). */
  connectTimeoutMs?: number;
}

/** An instance's network once attached: host-to-guest connections, and its end. */
export interface GuestNetwork {
  /** A connection to a guest TCP port; rejects with code ECONNREFUSED while nothing listens there. */
  openGuest(port: number): Promise<Duplex>;
  /** Refuses every later guest connection (the open ones belong to their services). */
  detach(): void;
}

/**
 * `new V86({ net_device })` for this config: v86's own stack ("fetch"), the
 * NIC, and the addresses. Give `preserve_mac_from_state_image: true` as
 * well, or a restored state's NIC gets a new MAC and its network silently
 * stops working.
 */
export function v86NetDevice(config: GuestNetworkConfig): { type: "ne2k" | "virtio"; relay_url: "fetch"; router_ip: string; vm_ip: string } {
  checkAddresses(config);
  return { type: config.nic, relay_url: "fetch", router_ip: config.routerIp, vm_ip: config.vmIp };
}

/**
 * A machine prepared ahead of its launch was built with placeholder
 * addresses: its adapter hands out this launch's instead (v86 reads them per
 * packet: DHCP, ARP, TCP). Call it once v86 has created its adapter.
 */
export function setGuestAddresses(emulator: NetworkedEmulator, config: Omit<GuestNetworkConfig, "nic">): void {
  const adapter = (emulator as { network_adapter?: { router_ip: Uint8Array; vm_ip: Uint8Array } }).network_adapter;
  if (!adapter?.router_ip || !adapter.vm_ip) throw new Ec2Error("VmStartFailed", "v86's network adapter is not there, or not the \"fetch\" adapter this version of amiboot drives.", "boot.network");
  checkAddresses(config);
  adapter.router_ip = new Uint8Array(config.routerIp.split(".").map(Number));
  adapter.vm_ip = new Uint8Array(config.vmIp.split(".").map(Number));
}

/** Bus listener entries as v86 keeps them (`BusConnector.listeners`); not in its typings. */
interface BusListener {
  fn: (value: unknown) => void;
  this_value: unknown;
}

/** The parts of v86's FetchNetworkAdapter used here; not in its typings. */
interface FetchAdapter {
  fetch: (url: string, init?: unknown) => Promise<Response>;
  connect(port: number): GuestConnection;
  bus: { listeners: Record<string, BusListener[] | undefined>; unregister(name: string, fn: BusListener["fn"]): void };
}

/** A guest-initiated connection as the `tcp-connection` event gives it. */
interface IncomingConnection extends GuestConnection {
  /** The port the guest connected to. */
  sport: number;
  /** The address the guest connected to. */
  psrc: Uint8Array;
  accept(): void;
}

/** The emulator as this module sees it: `V86` once started with a "fetch" `net_device`. */
export interface NetworkedEmulator {
  add_listener(event: string, listener: (value: never) => void): void;
  remove_listener(event: string, listener: (value: never) => void): void;
}

/**
 * Takes over a started emulator's network. Call it right after `new V86`
 * with a "fetch" `net_device` ({@link v86NetDevice}); it waits for v86's
 * asynchronous start-up to create the adapter.
 */
export async function attachGuestNetwork(emulator: NetworkedEmulator, options: AttachOptions): Promise<GuestNetwork> {
  const mac = options.mac === undefined ? undefined : parseMac(options.mac);
  const deadline = Date.now() + (options.adapterTimeoutMs ?? 30_000);
  const adapter = await waitFor(() => (emulator as { network_adapter?: FetchAdapter }).network_adapter, deadline, "network adapter");
  if (typeof adapter.connect !== "function" || !adapter.bus?.listeners) {
    throw new Ec2Error("VmStartFailed", "v86's network adapter is not the \"fetch\" adapter this version of amiboot drives.", "boot.network");
  }
  // v86's default `fetch` is the host's: a guest's port-80 request would leave from the host,
  // and `N.external` would reach the host's localhost:N. Nothing gets out.
  adapter.fetch = async () => new Response("amiboot: guests have no outbound network\n", { status: 403, statusText: "Forbidden" });
  // The adapter's own listener takes every port-80 connection to that fetch; connections are routed here instead.
  for (const listener of adapter.bus.listeners["tcp-connection"] ?? []) {
    if (listener.this_value === adapter) adapter.bus.unregister("tcp-connection", listener.fn);
  }
  // v86 restores a saved state in the same step that creates the devices: a MAC set now is not overwritten by it.
  if (mac) setMac(await waitFor(() => nicOf(emulator as V86Machine), deadline, "NIC"), mac);
  let attached = true;
  const route = (conn: IncomingConnection): void => {
    // Not accepted: v86 answers the guest's SYN with a reset ("connection refused").
    if (!attached || conn.sport !== METADATA_PORT || conn.psrc.join(".") !== METADATA_ADDRESS) return;
    conn.accept();
    options.metadata.handle(new GuestStream(conn));
  };
  emulator.add_listener("tcp-connection", route);
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  return {
    async openGuest(port: number): Promise<Duplex> {
      if (!attached) throw Object.assign(new Error("the instance's network is detached"), { code: "ECONNABORTED" });
      return connectedStream(adapter.connect(port), connectTimeoutMs);
    },
    detach(): void {
      attached = false;
      emulator.remove_listener("tcp-connection", route);
    },
  };
}

/** v86's NIC as its ne2k and virtio-net devices both keep it; not in its typings. */
interface Nic {
  /** Read live by the guest: ne2k's PAR registers, virtio's config space. */
  mac: Uint8Array;
  /** ne2k only: the PROM the driver reads the MAC from, each byte twice. */
  memory?: Uint8Array;
  bus: { send(event: string, value: unknown): void };
}

interface V86Machine {
  /** ne2k is `net`, virtio-net is `virtio_net`. */
  v86?: { cpu?: { devices?: { net?: Nic; virtio_net?: Nic } } };
}

function nicOf(emulator: V86Machine): Nic | undefined {
  const devices = emulator.v86?.cpu?.devices;
  return devices?.net ?? devices?.virtio_net;
}

/** Gives the NIC this MAC, in place, and tells the adapter (as the NIC does when it is created). */
function setMac(nic: Nic, mac: Uint8Array): void {
  nic.mac.set(mac);
  if (nic.memory) mac.forEach((byte, i) => (nic.memory![i << 1] = nic.memory![(i << 1) | 1] = byte));
  nic.bus.send("net0-mac", [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":"));
}

function parseMac(mac: string): Uint8Array {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw new Ec2Error("InvalidParameterValue", `The MAC address ${mac} is not a unicast address of the form aa:bb:cc:dd:ee:ff.`, "boot.network");
  }
  return new Uint8Array(mac.split(":").map((h) => parseInt(h, 16)));
}

/** v86 builds its adapter and devices during its asynchronous start-up: polls until `get` finds it. */
async function waitFor<T>(get: () => T | undefined, deadline: number, what: string): Promise<T> {
  for (;;) {
    const found = get();
    if (found) return found;
    if (Date.now() >= deadline) {
      throw new Ec2Error("VmStartFailed", `v86 created no ${what} in time (was net_device given with relay_url "fetch"?).`, "boot.network");
    }
    await sleep(10);
  }
}

function checkAddresses(config: Omit<GuestNetworkConfig, "nic">): void {
  for (const [name, ip] of [["routerIp", config.routerIp], ["vmIp", config.vmIp]] as const) {
    if (!isIpv4(ip)) throw new Ec2Error("InvalidParameterValue", `The ${name} ${ip} is not an IPv4 address.`, "boot.network");
  }
}

function isIpv4(ip: string): boolean {
  const parts = ip.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}
