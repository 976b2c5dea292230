import type { KeyPair } from "../cloud/key-pairs.js";
import { Ec2Error } from "../errors.js";
import type { Handler } from "./call.js";
import { boolParam, filters, listParam, stringParam } from "./query.js";
import { tagsOf } from "./tag-specifications.js";

/** Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair. */
export const KEY_PAIR_ACTIONS: Record<string, Handler> = {
  CreateKeyPair: (cloud, { accountId, region, params }) => {
    const op = "CreateKeyPair";
    const format = stringParam(params, "KeyFormat", { op });
    if (format !== undefined && format !== "pem") throw new Ec2Error("InvalidParameterValue", `Value (${format}) for parameter keyFormat is invalid. amiboot gives keys in pem only.`, op);
    const k = cloud.keyPairs.create(accountId, region, stringParam(params, "KeyName", { op }), stringParam(params, "KeyType", { op }), tagsOf(params, "key-pair", op));
    return { keyName: k.keyName, keyFingerprint: k.keyFingerprint, keyMaterial: k.keyMaterial, keyPairId: k.keyPairId, tagSet: k.tags };
  },
  ImportKeyPair: (cloud, { accountId, region, params }) => {
    const op = "ImportKeyPair";
    const k = cloud.keyPairs.import(accountId, region, stringParam(params, "KeyName", { op }), stringParam(params, "PublicKeyMaterial", { op }), tagsOf(params, "key-pair", op));
    return { keyName: k.keyName, keyFingerprint: k.keyFingerprint, keyPairId: k.keyPairId, tagSet: k.tags };
  },
  DescribeKeyPairs: (cloud, { accountId, region, params }) => {
    const op = "DescribeKeyPairs";
    const withPublic = boolParam(params, "IncludePublicKey", { op }) ?? false;
    const list = cloud.keyPairs.describe(accountId, region, { keyNames: listParam(params, "KeyName", op), keyPairIds: listParam(params, "KeyPairId", op), filters: filters(params, op) });
    return { keySet: list.map((k) => keyPairXml(k, withPublic)) };
  },
  DeleteKeyPair: (cloud, { accountId, region, params }) => {
    const op = "DeleteKeyPair";
    const r = cloud.keyPairs.delete(accountId, region, { keyName: stringParam(params, "KeyName", { op }), keyPairId: stringParam(params, "KeyPairId", { op }) });
    return { return: true, ...(r.keyPairId ? { keyPairId: r.keyPairId } : {}) };
  },
};

function keyPairXml(k: KeyPair, withPublic: boolean): Record<string, unknown> {
  return { keyPairId: k.keyPairId, keyName: k.keyName, keyType: k.keyType, keyFingerprint: k.keyFingerprint, createTime: k.createTime, tagSet: k.tags, ...(withPublic ? { publicKey: k.publicKey } : {}) };
}
