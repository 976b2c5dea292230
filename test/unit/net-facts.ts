import type { InstanceFacts } from "../../src/net/metadata.js";

/** One instance's facts as the control plane would give them. */
export function sampleFacts(overrides: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    accountId: "123456789012",
    region: "us-east-1",
    availabilityZone: "us-east-1a",
    imageId: "ami-0123456789abcdef0",
    instanceId: "i-0123456789abcdef0",
    instanceType: "t1.micro",
    architecture: "i386",
    launchIndex: 0,
    pendingTime: "2026-12-03T09:00:00Z",
    reservationId: "r-0123456789abcdef0",
    hostname: "ip-10-0-0-5.ec2.internal",
    privateIp: "10.0.0.5",
    mac: "00:22:15:ab:cd:ef",
    interfaceId: "eni-0123456789abcdef0",
    subnetId: "subnet-0123456789abcdef0",
    subnetCidr: "10.0.0.0/24",
    vpcId: "vpc-0123456789abcdef0",
    vpcCidr: "10.0.0.0/16",
    securityGroups: [{ id: "sg-0123456789abcdef0", name: "default" }],
    publicKey: { name: "my-key", openssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq my-key" },
    blockDevices: { ami: "sda1", root: "/dev/sda1", ebs1: "sdb", ephemeral0: "sdc" },
    virtualization: "hvm",
    userData: new TextEncoder().encode("#!/bin/sh\necho hello\n"),
    ...overrides,
  };
}
