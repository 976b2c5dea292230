import { describe, expect, it } from "vitest";
import { identityDocument, METADATA_VERSIONS, resolveMetadata } from "../../src/net/metadata.js";
import { sampleFacts } from "./net-facts.js";

const text = (facts: ReturnType<typeof sampleFacts>, path: string): string => {
  const answer = resolveMetadata(facts, path);
  expect(answer.status, path).toBe(200);
  return typeof answer.body === "string" ? answer.body : new TextDecoder().decode(answer.body);
};

describe("instance metadata tree", () => {
  const facts = sampleFacts();

  it("lists EC2's versions at / and the categories of a version", () => {
    const versions = text(facts, "/").split("\n");
    expect(versions[0]).toBe("1.0");
    expect(versions).toContain("2009-04-04");
    expect(versions).toContain("2021-03-23");
    expect(versions.at(-1)).toBe("latest");
    expect(versions).toEqual([...METADATA_VERSIONS]);
    expect(text(facts, "/latest/")).toBe("dynamic\nmeta-data\nuser-data");
    expect(text(facts, "/latest")).toBe("dynamic\nmeta-data\nuser-data");
    expect(text(facts, "/2009-04-04/")).toBe("dynamic\nmeta-data\nuser-data");
    expect(text(sampleFacts({ userData: undefined }), "/latest/")).toBe("dynamic\nmeta-data");
  });

  it("lists meta-data/ with directories ending in /", () => {
    const entries = text(facts, "/latest/meta-data/").split("\n");
    for (const leaf of ["ami-id", "ami-launch-index", "hostname", "instance-id", "instance-type", "local-hostname", "local-ipv4", "mac", "security-groups", "reservation-id"]) {
      expect(entries).toContain(leaf);
    }
    for (const d of ["block-device-mapping/", "network/", "placement/", "public-keys/", "services/"]) expect(entries).toContain(d);
    expect(entries).not.toContain("public-ipv4");
    expect(text(facts, "/latest/meta-data")).toBe(entries.join("\n"));
  });

  it("answers each value, with or without a trailing slash, under every version", () => {
    expect(text(facts, "/latest/meta-data/instance-id")).toBe("i-0123456789abcdef0");
    expect(text(facts, "/latest/meta-data/instance-id/")).toBe("i-0123456789abcdef0");
    expect(text(facts, "/2009-04-04/meta-data/instance-id")).toBe("i-0123456789abcdef0");
    expect(text(facts, "/2021-03-23/meta-data/ami-launch-index")).toBe("0");
    expect(text(facts, "/latest/meta-data/placement/availability-zone")).toBe("us-east-1a");
    expect(text(facts, "/latest/meta-data/placement/region")).toBe("us-east-1");
    expect(text(facts, "/latest/meta-data/local-hostname")).toBe("ip-10-0-0-5.ec2.internal");
    expect(text(facts, "/latest/meta-data/instance-id?x=1")).toBe("i-0123456789abcdef0");
    const withPublic = sampleFacts({ publicIp: "127.1.0.5", publicHostname: "i-0123456789abcdef0.amiboot.local" });
    expect(text(withPublic, "/latest/meta-data/public-ipv4")).toBe("127.1.0.5");
    expect(text(withPublic, "/latest/meta-data/public-hostname")).toBe("i-0123456789abcdef0.amiboot.local");
  });

  it("shows the key pair as EC2 does: 0=NAME, then 0/openssh-key", () => {
    expect(text(facts, "/latest/meta-data/public-keys/")).toBe("0=my-key");
    expect(text(facts, "/latest/meta-data/public-keys/0/")).toBe("openssh-key");
    expect(text(facts, "/latest/meta-data/public-keys/0/openssh-key")).toBe("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq my-key");
    expect(resolveMetadata(sampleFacts({ publicKey: undefined }), "/latest/meta-data/public-keys/").status).toBe(404);
  });

  it("serves block devices and the network interface by MAC", () => {
    expect(text(facts, "/latest/meta-data/block-device-mapping/")).toBe("ami\nroot\nebs1\nephemeral0");
    expect(text(facts, "/latest/meta-data/block-device-mapping/root")).toBe("/dev/sda1");
    expect(text(facts, "/latest/meta-data/network/interfaces/macs/")).toBe("00:22:15:ab:cd:ef/");
    const nic = "/latest/meta-data/network/interfaces/macs/00:22:15:ab:cd:ef/";
    const entries = text(facts, nic).split("\n");
    expect(entries).toEqual(expect.arrayContaining(["device-number", "local-ipv4s", "mac", "subnet-id", "vpc-id", "security-group-ids", "owner-id"]));
    expect(text(facts, `${nic}device-number`)).toBe("0");
    expect(text(facts, `${nic}local-ipv4s`)).toBe("10.0.0.5");
    expect(text(facts, `${nic}security-group-ids`)).toBe("sg-0123456789abcdef0");
    expect(text(facts, `${nic}owner-id`)).toBe("123456789012");
    expect(text(facts, "/latest/meta-data/security-groups")).toBe("default");
  });

  it("serves user-data as bytes, and 404 when there is none", () => {
    const answer = resolveMetadata(facts, "/latest/user-data");
    expect(answer).toMatchObject({ status: 200, contentType: "application/octet-stream" });
    expect(new TextDecoder().decode(answer.body as Uint8Array)).toBe("#!/bin/sh\necho hello\n");
    expect(resolveMetadata(sampleFacts({ userData: undefined }), "/latest/user-data").status).toBe(404);
  });

  it("answers unknown paths with EC2's 404 page", () => {
    for (const path of ["/nope", "/latest/nope", "/latest/meta-data/nope", "/latest/meta-data/instance-id/more", "/2008-01-01/meta-data/", "/latest/meta-data/toString", "/latest/meta-data/__proto__"]) {
      const answer = resolveMetadata(facts, path);
      expect(answer.status, path).toBe(404);
      expect(answer.contentType).toBe("text/html");
      expect(answer.body).toContain("<title>404 - Not Found</title>");
    }
  });

  it("gives the identity document in EC2's JSON", () => {
    expect(text(facts, "/latest/dynamic/")).toBe("instance-identity/");
    expect(text(facts, "/latest/dynamic/instance-identity/")).toBe("document");
    const doc = text(facts, "/latest/dynamic/instance-identity/document");
    expect(doc).toBe(identityDocument(facts));
    expect(doc).toContain('  "instanceId" : "i-0123456789abcdef0"');
    expect(JSON.parse(doc)).toEqual({
      accountId: "123456789012",
      architecture: "i386",
      availabilityZone: "us-east-1a",
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: "ami-0123456789abcdef0",
      instanceId: "i-0123456789abcdef0",
      instanceType: "t1.micro",
      kernelId: null,
      pendingTime: "2026-12-03T09:00:00Z",
      privateIp: "10.0.0.5",
      ramdiskId: null,
      region: "us-east-1",
      version: "2017-09-30",
    });
  });
});
