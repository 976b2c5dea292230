import { describe, expect, it } from "vitest";
import { v86NetDevice } from "../../src/boot/network.js";

describe("v86 net_device options", () => {
  it("selects v86's own stack, the NIC and the addresses", () => {
    expect(v86NetDevice({ nic: "virtio", routerIp: "10.0.0.1", vmIp: "10.0.0.5" })).toEqual({ type: "virtio", relay_url: "fetch", router_ip: "10.0.0.1", vm_ip: "10.0.0.5" });
  });

  it("refuses an address that is not IPv4", () => {
    expect(() => v86NetDevice({ nic: "ne2k", routerIp: "10.0.0.256", vmIp: "10.0.0.5" })).toThrow(/routerIp 10\.0\.0\.256 is not an IPv4 address/);
    expect(() => v86NetDevice({ nic: "ne2k", routerIp: "10.0.0.1", vmIp: "fd00::5" })).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
  });
});
