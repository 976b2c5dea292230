import { Ec2Error } from "../errors.js";
import { tagSpecifications } from "./query.js";

/** A create action's `TagSpecification.N` tags, all for its one resource type (EC2 refuses another type). */
export function tagsOf(params: URLSearchParams, resourceType: string, op: string) {
  const specs = tagSpecifications(params, op);
  for (const s of specs) if (s.resourceType !== resourceType) throw new Ec2Error("InvalidParameterValue", `'${s.resourceType}' is not a valid taggable resource type for this operation.`, op);
  return specs.flatMap((s) => s.tags);
}
