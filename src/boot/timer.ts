/**
 * The boot timer: milestones recognised on the guest's serial console and
 * text screen, with the time since the VM started (as Firecracker's boot
 * timer device logs the guest's boot time). Each milestone is recorded once.
 */
export type MilestoneName = "bios" | "loader" | "kernel" | "init" | "until" | "poweroff" | "halted";

export interface Milestone {
  name: MilestoneName;
  /** Milliseconds since the VM started. */
  atMs: number;
  /** The console or screen line that showed it. */
  text: string;
}

/** What each milestone means, for tables and help. */
export const MILESTONE_LABELS: Record<MilestoneName, string> = {
  bios: "BIOS hand-off to the disk",
  loader: "boot loader banner",
  kernel: "kernel start (Linux version)",
  init: "Run /init",
  until: "--until text seen",
  poweroff: "guest powered off",
  halted: "CPU halted (interrupts off)",
};

const PATTERNS: [MilestoneName, RegExp][] = [
  ["bios", /^Booting from (Hard Disk|Floppy|DVD\/CD|ROM)/],
  ["loader", /\b(SYSLINUX|ISOLINUX|EXTLINUX|PXELINUX) \d|GNU GRUB|GRUB loading|PV-GRUB/],
  ["kernel", /Linux version \d/],
  ["init", /Run \S+ as init process/],
  ["poweroff", /reboot: (System halted|Power down)/],
];

/** Lines where a kernel refuses this CPU (printed by its real-mode setup code). */
const REFUSAL = /This kernel requires (an x86-64 CPU|the following features)/;

export class BootTimer {
  readonly milestones: Milestone[] = [];
  private readonly seen = new Set<MilestoneName>();
  private readonly t0: number;

  constructor(
    private readonly until?: string,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.t0 = clock();
  }

  elapsedMs(): number {
    return this.clock() - this.t0;
  }

  /** A finished console or screen line: returns the milestones it showed. */
  line(text: string): Milestone[] {
    const found: Milestone[] = [];
    for (const [name, re] of PATTERNS) {
      if (re.test(text)) {
        const m = this.mark(name, text);
        if (m) found.push(m);
      }
    }
    if (this.until !== undefined && text.includes(this.until)) {
      const m = this.mark("until", text);
      if (m) found.push(m);
    }
    return found;
  }

  /** The console line still being written: `--until` must not wait for its newline. */
  partial(text: string): Milestone | undefined {
    if (this.until !== undefined && !this.seen.has("until") && text.endsWith(this.until)) {
      return this.mark("until", text);
    }
    return undefined;
  }

  /** Records a milestone seen by other means (the CPU halting); once only. */
  mark(name: MilestoneName, text: string): Milestone | undefined {
    if (this.seen.has(name)) return undefined;
    this.seen.add(name);
    const m = { name, atMs: Math.round(this.elapsedMs() * 10) / 10, text: text.trim().slice(0, 200) };
    this.milestones.push(m);
    return m;
  }

  has(name: MilestoneName): boolean {
    return this.seen.has(name);
  }
}

/** The line of a kernel that refuses to run on v86's 32-bit CPU, if this is one. */
export function kernelRefusal(line: string): boolean {
  return REFUSAL.test(line);
}
