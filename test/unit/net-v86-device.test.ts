import { describe, expect, it } from "vitest";
import { attachGuestNetwork, v86NetDevice, type NetworkedEmulator } from "../../src/boot/network.js";

describe("v86 net_device options", () => {
  it("selects v86's own stack, the NIC and the addresses", () => {
    expect(v86NetDevice({ nic: "virtio", routerIp: "10.0.0.1", vmIp: "10.0.0.5" })).toEqual({ type: "virtio", relay_url: "fetch", router_ip: "10.0.0.1", vm_ip: "10.0.0.5" });
  });

  it("refuses an address that is not IPv4", () => {
    expect(() => v86NetDevice({ nic: "ne2k", routerIp: "10.0.0.256", vmIp: "10.0.0.5" })).toThrow(/routerIp 10\.0\.0\.256 is not an IPv4 address/);
    expect(() => v86NetDevice({ nic: "ne2k", routerIp: "10.0.0.1", vmIp: "fd00::5" })).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
  });
});

/** The shapes of a started v86 with a "fetch" net_device that attachGuestNetwork touches: adapter, bus, NIC. */
function fakeEmulator(nic: "ne2k" | "virtio") {
  const sent: [string, unknown][] = [];
  const device = {
    mac: new Uint8Array([0x00, 0x22, 0x15, 1, 2, 3]),
    ...(nic === "ne2k" ? { memory: new Uint8Array(32) } : {}),
    bus: { send: (event: string, value: unknown) => sent.push([event, value]) },
  };
  const adapterListener = { fn: () => {}, this_value: undefined as unknown };
  const adapter = {
    fetch: async (): Promise<Response> => new Response("from the host's network"),
    connect: () => ({}),
    bus: {
      listeners: { "tcp-connection": [adapterListener] } as Record<string, { fn: () => void; this_value: unknown }[]>,
      unregister(name: string, fn: () => void) {
        this.listeners[name] = this.listeners[name]!.filter((l) => l.fn !== fn);
      },
    },
  };
  adapterListener.this_value = adapter;
  const ours: unknown[] = [];
  const emulator = {
    network_adapter: adapter,
    v86: { cpu: { devices: nic === "ne2k" ? { net: device } : { virtio_net: device } } },
    add_listener: (_event: string, fn: unknown) => ours.push(fn),
    remove_listener: (_event: string, fn: unknown) => ours.splice(ours.indexOf(fn), 1),
  };
  return { emulator: emulator as unknown as NetworkedEmulator, device, adapter, sent, ours };
}

const metadata = { handle: () => {} };

describe("attachGuestNetwork", () => {
  it("gives an ne2k NIC the instance's MAC in its registers and its PROM (each byte twice)", async () => {
    const { emulator, device, sent } = fakeEmulator("ne2k");
    await attachGuestNetwork(emulator, { metadata, mac: "02:a0:00:00:00:17" });
    expect([...device.mac]).toEqual([0x02, 0xa0, 0, 0, 0, 0x17]);
    expect([...device.memory!.subarray(0, 12)]).toEqual([0x02, 0x02, 0xa0, 0xa0, 0, 0, 0, 0, 0, 0, 0x17, 0x17]);
    expect(sent).toEqual([["net0-mac", "02:a0:00:00:00:17"]]);
  });

  it("gives a virtio NIC the instance's MAC (v86 keeps it as virtio_net, not net)", async () => {
    const { emulator, device, sent } = fakeEmulator("virtio");
    await attachGuestNetwork(emulator, { metadata, mac: "02:b0:00:00:00:2a", adapterTimeoutMs: 200 });
    expect([...device.mac]).toEqual([0x02, 0xb0, 0, 0, 0, 0x2a]);
    expect(sent).toEqual([["net0-mac", "02:b0:00:00:00:2a"]]);
  });

  it("cuts the adapter's way out to the host's network and routes guest connections itself", async () => {
    const { emulator, adapter, ours } = fakeEmulator("ne2k");
    const network = await attachGuestNetwork(emulator, { metadata });
    const answer = await adapter.fetch();
    expect(answer.status).toBe(403);
    expect(adapter.bus.listeners["tcp-connection"]).toEqual([]);
    expect(ours).toHaveLength(1);
    network.detach();
    expect(ours).toHaveLength(0);
    await expect(network.openGuest(22)).rejects.toMatchObject({ code: "ECONNABORTED" });
  });

  it("refuses a MAC that is not unicast", async () => {
    const { emulator } = fakeEmulator("ne2k");
    await expect(attachGuestNetwork(emulator, { metadata, mac: "01:00:5e:00:00:01" })).rejects.toThrow("The MAC address 01:00:5e:00:00:01 is not a unicast address of the form aa:bb:cc:dd:ee:ff.");
  });
});
