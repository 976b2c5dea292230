/**
 * The results of a boot-time benchmark run (`amiboot bench`): what the suite
 * runner writes as JSON and what the statistics, the reports and the
 * comparison of two runs read. Plain data, no behaviour.
 */

/** One run of the suite on one machine. */
export interface BenchResults {
  version: 1;
  startedAt: string;
  finishedAt: string;
  machine: {
    cpuModel: string;
    cores: number;
    totalMemoryMiB: number;
    node: string;
    v86: string;
    amiboot: string;
    os: string;
    /** os.loadavg() before the first run and after the last. */
    loadBefore: number[];
    loadAfter: number[];
    /** `qemu-system-i386 --version`, when QEMU cases were asked for and it is installed. */
    qemu?: string;
  };
  options: { runs: number; warmup: number; [k: string]: unknown };
  cases: BenchCase[];
  /** Pairs to report as ratios: other / baseline, computed per pair of runs (run i of each; runs are interleaved so drift hits both alike). */
  comparisons: { title: string; baseline: string; other: string }[];
  /** Memory of running instances: the process's RSS (every VM runs in one of its threads) with 1, 2, … instances up. */
  memory?: MemoryResult;
}

export interface MemoryResult {
  label: string;
  guestMiB: number;
  /** Process RSS, and its CPU use (percent of one core) over 2 s once no thread is busy: every instance idle at its shell. */
  points: { running: number; rssMiB: number; idleCpuPercent: number }[];
  /** The least-squares slope of RSS over running instances. */
  perExtraInstanceMiB: number;
  /** The least-squares slope of idle CPU over running instances: what one more idle instance costs, in percent of a core. */
  idleCpuPerInstancePercent: number;
}

/** One configuration measured several times. */
export interface BenchCase {
  /** Unique, e.g. "hvm-linux.img/hvm/ebs/cold/c1". */
  id: string;
  /** For people, e.g. "HVM, EBS, cold". */
  label: string;
  engine: "amiboot" | "qemu";
  /** mode, root, warm, concurrency, sizeMiB ... */
  params: Record<string, string | number | boolean>;
  /** One per measured run, in run order (warm-up runs are not here). */
  samples: BenchSample[];
  /** The samples' statistics (stats.ts `summarize`), written beside them so that scripts need not recompute them. */
  summary?: Summary;
  /** Why the case stopped being measured (a launch that failed or timed out); its samples are those before. */
  error?: string;
}

/** One measured run of a case. */
export interface BenchSample {
  /** Time to the user-space marker, or without one to the guest's power-off (for a batch of concurrent boots: wall time until all reached it). */
  totalMs: number;
  /** Milestone name -> ms since the VM started: bios, loader, kernel, init, until (user space). */
  milestones: Record<string, number>;
  /** Boots in this sample (concurrency); throughput = boots / totalMs. */
  boots?: number;
  rssMiB?: number;
}

/** The boot timer's milestones in boot order; `until` is the user-space marker; a run without one ends at poweroff or halted. */
export const MILESTONE_ORDER = ["bios", "loader", "kernel", "init", "until", "poweroff", "halted"] as const;

/** Milestone names as the reports show them. */
export const MILESTONE_TITLES: Record<string, string> = {
  bios: "bios",
  loader: "loader",
  kernel: "kernel",
  init: "init",
  until: "user space",
  poweroff: "power-off",
  halted: "halted",
};

/** An interval of the median and the probability that it covers it. */
export interface Interval {
  lo: number;
  hi: number;
  /** Coverage reached, 0-1: at least 0.95 from 6 samples on, less below. */
  level: number;
}

/** A case's statistics over its samples. */
export interface Summary {
  n: number;
  minMs: number;
  medianMs: number;
  maxMs: number;
  /** The order-statistic interval of the median. */
  ci: Interval;
  /** Milestone -> median over the samples that reached it, ms since the VM started. */
  milestonesMedianMs: Record<string, number>;
}
