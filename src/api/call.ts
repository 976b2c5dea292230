import type { Cloud } from "../cloud/cloud.js";
import type { QueryParams } from "./query.js";

/** One authenticated request: who asks, where, with which parameters. */
export interface Call {
  accountId: string;
  region: string;
  params: QueryParams;
}

/** An action: parameters in, the control plane's answer out, in EC2's element names (xml.ts serialises it). */
export type Handler = (cloud: Cloud, call: Call) => Record<string, unknown> | Promise<Record<string, unknown>>;
