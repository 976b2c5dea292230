import { Ec2Error } from "../errors.js";

/** The regions amiboot serves; a request's region is its SigV4 credential scope's. */
export const REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1"] as const;
export type Region = string;

/** The request's own region (from SigV4: AuthFailure, as EC2 answers an unknown endpoint region), or a parameter naming one. */
export function checkRegion(region: string, parameter?: string): Region {
  if (!(REGIONS as readonly string[]).includes(region)) {
    const served = `use one of ${REGIONS.join(", ")}`;
    if (parameter) throw new Ec2Error("InvalidParameterValue", `Value (${region}) for parameter ${parameter} is invalid: the region is not served here; ${served}`, "cloud.checkRegion");
    throw new Ec2Error("AuthFailure", `The region '${region}' is not served here; ${served}`, "cloud.checkRegion");
  }
  return region;
}
