import type { Cloud } from "../cloud/cloud.js";
import { Ec2Error } from "../errors.js";
import type { Call, Handler } from "./call.js";
import { IMAGE_ACTIONS } from "./image-actions.js";
import { INSTANCE_ACTIONS } from "./instance-actions.js";
import { INSTANCE_ATTRIBUTE_ACTIONS } from "./instance-attribute-actions.js";
import { INSTANCE_TYPE_ACTIONS } from "./instance-type-actions.js";
import { KEY_PAIR_ACTIONS } from "./key-pair-actions.js";
import { NETWORK_ACTIONS } from "./network-actions.js";
import { boolParam, stringParam } from "./query.js";
import { SNAPSHOT_ACTIONS } from "./snapshot-actions.js";
import { TAG_ACTIONS } from "./tag-actions.js";
import { VOLUME_ACTIONS } from "./volume-actions.js";

export type { Call, Handler } from "./call.js";

/** Every supported Action, by name: the tables of each resource's actions. */
const ACTIONS: Readonly<Record<string, Handler>> = Object.freeze({ ...IMAGE_ACTIONS, ...TAG_ACTIONS, ...INSTANCE_ACTIONS, ...INSTANCE_ATTRIBUTE_ACTIONS, ...INSTANCE_TYPE_ACTIONS, ...KEY_PAIR_ACTIONS, ...NETWORK_ACTIONS, ...VOLUME_ACTIONS, ...SNAPSHOT_ACTIONS });

/** Runs one action for an authenticated caller; DryRun is answered here, for every action alike. */
export function dispatch(cloud: Cloud, action: string, call: Call): Record<string, unknown> | Promise<Record<string, unknown>> {
  const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!handler) throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service.`, "api.dispatch");
  if (boolParam(call.params, "DryRun", { op: action })) return dryRun(cloud, action, call, handler);
  const token = IDEMPOTENT.has(action) ? stringParam(call.params, "ClientToken", { op: action }) : undefined;
  if (token === undefined) return handler(cloud, call);
  return idempotent(cloud, action, call, handler, token);
}

/** The actions that take a ClientToken (see cloud/client-tokens.ts). */
const IDEMPOTENT = new Set(["RunInstances", "CopyImage", "CreateVolume", "CopySnapshot"]);

function idempotent(cloud: Cloud, action: string, call: Call, handler: Handler, token: string): Record<string, unknown> | Promise<Record<string, unknown>> {
  // The signature's own query parameters (presigned GET) are not the request's.
  const params = [...call.params.entries()].filter(([name]) => !/^X-Amz-/i.test(name));
  const earlier = cloud.clientTokens.recall(call.accountId, call.region, action, token, params);
  if (earlier) return earlier;
  const remember = (answer: Record<string, unknown>) => {
    cloud.clientTokens.remember(call.accountId, call.region, action, token, params, answer);
    return answer;
  };
  // A synchronous action is remembered before another request can run: a concurrent retry finds it.
  const answer = handler(cloud, call);
  return answer instanceof Promise ? answer.then(remember) : remember(answer);
}

/**
 * DryRun: the caller is authenticated (the server checked SigV4) and the
 * action exists. A read-only action also runs, so its parameter and
 * permission errors come back as they would; a changing action is not run,
 * so only those checks stand behind its "would have succeeded".
 */
async function dryRun(cloud: Cloud, action: string, call: Call, handler: Handler): Promise<never> {
  if (/^(Describe|Get)/.test(action)) await handler(cloud, call);
  throw new Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", action);
}
