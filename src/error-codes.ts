/**
 * Every error code amiboot raises, by layer, each mapped once to what it
 * means for a client: the HTTP status the endpoint answers with and the exit
 * class of the `amiboot` command. A code missing here does not compile
 * (`Ec2Error`'s code is `ErrorCode`).
 *
 * Statuses are EC2's ("Error codes for the Amazon EC2 API",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
 * client errors are 400-series, server errors 500-series. The exact statuses
 * are from real EC2 answers quoted in public bug reports:
 * - AuthFailure 401: boto's "EC2ResponseError: 401 Unauthorized" with an
 *   AuthFailure body (github.com/markcaudill/haproxy-autoscale/issues/20),
 *   "Status Code: 401; Error Code: AuthFailure" (github.com/HummerRisk/HummerRisk/issues/418).
 * - UnauthorizedOperation 403 (github.com/hashicorp/terraform-provider-aws/issues/4664);
 *   SignatureDoesNotMatch 403 (github.com/mitchellh/vagrant-aws/issues/138).
 * - DryRunOperation 412 (github.com/getmoto/moto/issues/1980).
 * - RequestExpired 400 (github.com/aws/aws-sdk-java/issues/1443), as every
 *   other client code (Invalid*, Missing*, IncorrectInstanceState, ...).
 * - InternalError 500 (github.com/smarty-archives/go-aws-auth/issues/37);
 *   RequestLimitExceeded 503 (github.com/cloudfoundry/bosh-aws-cpi-release/issues/61);
 *   Unavailable and ServiceUnavailable 503 by their meaning.
 * EC2 Query never answers 404. An oversized request is 413 (EC2 documents no
 * code for it; `RequestEntityTooLarge` is the HTTP status's own name).
 *
 * 5xx is exactly the server's own faults: damaged stored data
 * (`InvalidSnapshot.Corrupt`), host I/O (`DiskIOError`), a broken install or
 * worker, a busy store. Everything a caller can fix is 4xx.
 *
 * Exit classes (README): `invalid` (2) the request, arguments or image are
 * wrong and nothing ran; `failed` (1) it ran, or was refused by the state of
 * things, and failed; `timeout` (124); `interrupted` (130).
 */
export type ExitClass = "invalid" | "failed" | "timeout" | "interrupted";

export interface CodeInfo {
  readonly status: number;
  readonly exit: ExitClass;
}

/** The caller's request, arguments or image are wrong. */
const INPUT: CodeInfo = { status: 400, exit: "invalid" };
/** Well-formed, but the state of things or a limit says no. */
const REFUSED: CodeInfo = { status: 400, exit: "failed" };
/** The server's own fault. */
const SERVER: CodeInfo = { status: 500, exit: "failed" };
/** The server cannot take this now; a retry may work. */
const BUSY: CodeInfo = { status: 503, exit: "failed" };

/** EC2's own codes of the Query API and the control plane (cloud/). */
const CLOUD = {
  InvalidParameterValue: INPUT,
  InvalidParameterCombination: INPUT,
  MissingParameter: INPUT,
  UnknownParameter: INPUT,
  InvalidAction: INPUT,
  MissingAction: INPUT,
  InvalidRequest: INPUT,
  InvalidID: INPUT,
  InvalidNextToken: INPUT,
  FilterLimitExceeded: INPUT,
  "InvalidAMIID.Malformed": INPUT,
  "InvalidAMIID.NotFound": INPUT,
  "InvalidAMIID.Unavailable": INPUT,
  "InvalidAMIName.Malformed": INPUT,
  "InvalidAMIName.Duplicate": INPUT,
  InvalidAMIAttributeItemValue: INPUT,
  InvalidBlockDeviceMapping: INPUT,
  "InvalidSnapshotID.Malformed": INPUT,
  "InvalidSnapshot.NotFound": INPUT,
  "InvalidSnapshot.InUse": INPUT,
  "InvalidVolumeID.Malformed": INPUT,
  "InvalidVolume.NotFound": INPUT,
  "InvalidVolume.ZoneMismatch": INPUT,
  "InvalidAttachment.NotFound": INPUT,
  AttachmentLimitExceeded: REFUSED,
  OperationNotPermitted: REFUSED,
  "InvalidInstanceID.Malformed": INPUT,
  "InvalidInstanceID.NotFound": INPUT,
  InvalidInstanceAttributeValue: INPUT,
  IncorrectInstanceState: REFUSED,
  IncorrectState: REFUSED,
  IdempotentParameterMismatch: INPUT,
  InvalidBlock: INPUT,
  InvalidBlockToken: INPUT,
  UnsupportedOperation: REFUSED,
  TagLimitExceeded: REFUSED,
  InstanceLimitExceeded: REFUSED,
  DryRunOperation: { status: 412, exit: "failed" },
  InternalError: SERVER,
  RequestLimitExceeded: BUSY,
  ServiceUnavailable: BUSY,
  Unavailable: BUSY,
} as const satisfies Record<string, CodeInfo>;

/** The endpoint's transport and SigV4 (api/). */
const API = {
  AuthFailure: { status: 401, exit: "failed" },
  UnauthorizedOperation: { status: 403, exit: "failed" },
  SignatureDoesNotMatch: { status: 403, exit: "failed" },
  IncompleteSignature: INPUT,
  RequestExpired: INPUT,
  RequestEntityTooLarge: { status: 413, exit: "invalid" },
} as const satisfies Record<string, CodeInfo>;

/** Snapshots, volumes, bundles and disk files (volumes/, store/). */
const VOLUMES = {
  "InvalidSnapshot.Corrupt": SERVER,
  DiskIOError: SERVER,
  ResourceBusy: BUSY,
  VolumeInUse: REFUSED,
  InvalidManifest: INPUT,
  "InvalidDiskImage.NotFound": INPUT,
  "InvalidDiskImage.NotAFile": INPUT,
  "InvalidDiskImage.Unreadable": INPUT,
  "InvalidDiskImage.Empty": INPUT,
  "InvalidDiskImage.TooSmall": INPUT,
  "InvalidDiskImage.NotBootable": INPUT,
} as const satisfies Record<string, CodeInfo>;

/** The readers of untrusted guest disks (guestfs/): a bad image. */
const GUESTFS = {
  "GuestFs.Corrupt": INPUT,
  "GuestFs.OutOfBounds": INPUT,
  "GuestFs.Unsupported": INPUT,
  "GuestFs.NotFound": INPUT,
  "GuestFs.NotADirectory": INPUT,
  "GuestFs.IsADirectory": INPUT,
  "GuestFs.Loop": INPUT,
  "GuestFs.TooLarge": INPUT,
} as const satisfies Record<`GuestFs.${string}`, CodeInfo>;

/** Boot plans, PV-GRUB and the VMs (boot/, pool/, workers/). */
const BOOT = {
  InvalidKernel: INPUT,
  "PvGrub.MenuNotFound": INPUT,
  "PvGrub.NoEntries": INPUT,
  "PvGrub.NoKernel": INPUT,
  "PvGrub.NoSuchDevice": INPUT,
  "PvGrub.FileError": INPUT,
  "PvGrub.BootFailed": INPUT,
  "InvalidDiskImage.Timeout": INPUT,
  BootTimeout: { status: 400, exit: "timeout" },
  BootAborted: { status: 400, exit: "interrupted" },
  BootFailed: REFUSED,
  MissingFirmware: SERVER,
  MissingBuild: SERVER,
  WorkerCrashed: SERVER,
  VmStartFailed: SERVER,
  HostPortInUse: REFUSED,
  HostPortUnavailable: REFUSED,
  "InvalidKeyPair.NotFound": INPUT,
  InvalidInstanceType: INPUT,
  "InvalidKeyPair.Duplicate": INPUT,
  "InvalidKey.Format": INPUT,
  "InvalidGroup.NotFound": INPUT,
  "InvalidGroup.Duplicate": INPUT,
  "InvalidGroup.Reserved": INPUT,
  "InvalidPermission.Duplicate": INPUT,
  "InvalidPermission.NotFound": INPUT,
  "InvalidVpcID.NotFound": INPUT,
  "InvalidSubnetID.NotFound": INPUT,
  DependencyViolation: REFUSED,
  CannotDelete: REFUSED,
  InsufficientFreeAddressesInSubnet: REFUSED,
  InsufficientInstanceCapacity: SERVER,
} as const satisfies Record<string, CodeInfo>;

/** The `amiboot` command and the bench as clients (cli/, benchmark/). */
const CLI = {
  EndpointUnreachable: BUSY,
  InstanceFailed: REFUSED,
  WaitTimeout: { status: 400, exit: "timeout" },
  BenchFailed: REFUSED,
} as const satisfies Record<string, CodeInfo>;

export type CloudCode = keyof typeof CLOUD;
export type ApiCode = keyof typeof API;
export type VolumeCode = keyof typeof VOLUMES;
export type GuestFsCode = keyof typeof GUESTFS;
export type BootCode = keyof typeof BOOT;
export type CliCode = keyof typeof CLI;
export type ErrorCode = CloudCode | ApiCode | VolumeCode | GuestFsCode | BootCode | CliCode;

/** The one table: every code's status and exit class. */
export const ERROR_CODES: Readonly<Record<ErrorCode, CodeInfo>> = Object.freeze({ ...CLOUD, ...API, ...VOLUMES, ...GUESTFS, ...BOOT, ...CLI });

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * A code's entry. A code outside the table can only be relayed (an endpoint's
 * answer read by the CLI, an AWS SDK error): a failure of unknown cause, 500
 * and exit 1.
 */
export function codeInfo(code: string): CodeInfo {
  return isErrorCode(code) ? ERROR_CODES[code] : SERVER;
}
