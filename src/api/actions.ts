import type { Cloud } from "../cloud/cloud.js";
import { Ec2Error } from "../errors.js";
import type { Call, Handler } from "./call.js";
import { IMAGE_ACTIONS } from "./image-actions.js";
import { INSTANCE_ACTIONS } from "./instance-actions.js";
import { INSTANCE_ATTRIBUTE_ACTIONS } from "./instance-attribute-actions.js";
import { INSTANCE_TYPE_ACTIONS } from "./instance-type-actions.js";
import { KEY_PAIR_ACTIONS } from "./key-pair-actions.js";
import { NETWORK_ACTIONS } from "./network-actions.js";
import { boolParam } from "./query.js";
import { TAG_ACTIONS } from "./tag-actions.js";
import { VOLUME_ACTIONS } from "./volume-actions.js";

export type { Call, Handler } from "./call.js";

/** Every supported Action, by name: the tables of each resource's actions. */
const ACTIONS: Readonly<Record<string, Handler>> = Object.freeze({ ...IMAGE_ACTIONS, ...TAG_ACTIONS, ...INSTANCE_ACTIONS, ...INSTANCE_ATTRIBUTE_ACTIONS, ...INSTANCE_TYPE_ACTIONS, ...KEY_PAIR_ACTIONS, ...NETWORK_ACTIONS, ...VOLUME_ACTIONS });

/** Runs one action for an authenticated caller; DryRun is answered here, for every action alike. */
export function dispatch(cloud: Cloud, action: string, call: Call): Record<string, unknown> | Promise<Record<string, unknown>> {
  const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!handler) throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service.`, "api.dispatch");
  if (boolParam(call.params, "DryRun", { op: action })) return dryRun(cloud, action, call, handler);
  return handler(cloud, call);
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
