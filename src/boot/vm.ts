import fs from "node:fs";
import { createRequire } from "node:module";
import { V86, type V86Options } from "v86";
import { Ec2Error } from "../errors.js";
import type { BlockDevice } from "../volumes/block-device.js";
import { openDisk } from "../volumes/open.js";
import type { BootPlan, PvKernel, StandbyPlan } from "./plan.js";
import { attachGuestNetwork, setGuestAddresses, v86NetDevice, type AttachOptions, type GuestNetwork } from "./network.js";
import { V86Disk } from "./v86-disk.js";

const require = createRequire(import.meta.url);
const WASM_PATH = require.resolve("v86/build/v86.wasm");

export interface VmHooks {
  serialByte(byte: number): void;
  /** The machine runs: after its reset, or after a saved state was restored. */
  started?(): void;
  screenChar(row: number, col: number, chr: number): void;
  screenSize(width: number, height: number): void;
}

/** The parts of v86's machine we read or replace; not in its typings. */
interface V86Internals {
  v86?: {
    cpu?: { in_hlt?: Uint8Array; flags?: Int32Array; zero_memory(start: number, length: number): void; memory_size: Uint32Array };
    yield(t: number, tick: number): void;
    yield_callback(tick: number): void;
  };
}

const IF_FLAG = 0x200;

/**
 * v86's wasm, compiled once per thread: a pooled worker that runs a second
 * VM instantiates it again without compiling (a warm worker).
 */
let compiled: Promise<WebAssembly.Module> | undefined;
const wasmFn = async (imports: WebAssembly.Imports): Promise<WebAssembly.Exports> => {
  compiled ??= WebAssembly.compile(fs.readFileSync(WASM_PATH));
  return (await WebAssembly.instantiate(await compiled, imports)).exports;
};

/** Compiles v86's wasm ahead of the first VM (a worker calls it when it starts). */
export function precompileWasm(): Promise<unknown> {
  compiled ??= WebAssembly.compile(fs.readFileSync(WASM_PATH));
  return compiled;
}
/** v86's disks: the primary IDE channel's master (hda) and slave (hdb). */
export const MAX_DISKS = 2;

/** One v86 machine built from a boot plan, or prepared from a saved state ahead of its launch: the builder and the handle. */
export class Vm {
  private constructor(
    private readonly emulator: V86,
    private readonly disks: V86Disk[],
    private devices: BlockDevice[],
  ) {}

  static start(plan: BootPlan, hooks: VmHooks): Vm {
    const devices = openDisks(plan);
    const disks = devices.map((d) => new V86Disk(d));
    const state = plan.restoreState ? savedState(plan.restoreState) : undefined;
    const vm = new Vm(
      new V86(
        machineOptions({
          memoryMiB: plan.memoryMiB,
          firmware: plan.firmware,
          disks,
          autostart: true,
        }, {
          // A restored machine's memory already holds the kernel: the state replaces what the BIOS and bzimage would set up.
          ...(plan.pv && !plan.restoreState ? pvOptions(plan.pv) : {}),
          ...(state ? { initial_state: state } : {}),
          ...(plan.network ? { net_device: v86NetDevice({ nic: plan.network.nic, routerIp: plan.network.routerIp, vmIp: plan.network.privateIp }) } : {}),
        }),
      ),
      disks,
      devices,
    );
    vm.listen(hooks);
    void vm.built(state);
    return vm;
  }

  /**
   * A warm launch's machine, built and restored from its saved state before
   * the launch, and not running: `launch` gives it the launch's disks and
   * addresses and runs it. `ready` resolves once the state is in.
   */
  static prepare(standby: StandbyPlan): { vm: Vm; ready: Promise<void> } {
    if (standby.diskSizes.length === 0 || standby.diskSizes.length > MAX_DISKS) throw tooManyDisks(standby.diskSizes.length);
    const disks = standby.diskSizes.map((size) => new V86Disk(undefined, size));
    const state = savedState(standby.restoreState);
    const emulator = new V86(
      machineOptions({
        memoryMiB: standby.memoryMiB,
        firmware: standby.firmware,
        disks,
        autostart: false,
      }, {
        initial_state: state,
        // The launch's addresses replace these (the adapter reads them per packet).
        ...(standby.nic ? { net_device: v86NetDevice({ nic: standby.nic, routerIp: "0.0.0.0", vmIp: "0.0.0.0" }) } : {}),
      }),
    );
    const vm = new Vm(emulator, disks, []);
    return { vm, ready: vm.built(state) };
  }

  /** Runs a prepared machine as `plan`'s launch (its standby key matched): its disks, addresses and hooks. */
  launch(plan: BootPlan, hooks: VmHooks): void {
    this.devices = openDisks(plan);
    this.devices.forEach((d, i) => this.disks[i]!.attach(d));
    if (plan.network) setGuestAddresses(this.emulator as unknown as Parameters<typeof setGuestAddresses>[0], { routerIp: plan.network.routerIp, vmIp: plan.network.privateIp });
    this.listen(hooks);
    this.emulator.run();
  }

  private listen(hooks: VmHooks): void {
    this.emulator.add_listener("serial0-output-byte", hooks.serialByte);
    this.emulator.add_listener("screen-put-char", ([row, col, chr]) => hooks.screenChar(row, col, chr));
    this.emulator.add_listener("screen-set-size", ([w, h]) => hooks.screenSize(w, h));
    if (hooks.started) this.emulator.add_listener("emulator-started", () => hooks.started!());
  }

  /**
   * Tunes the machine once v86 has built it (before it restores a state or
   * runs), and lets the saved state go once v86 has restored it; resolves
   * then (v86 restores, runs if it autostarts, then says "loaded").
   */
  private built(state: { buffer: ArrayBuffer } | undefined): Promise<void> {
    this.emulator.add_listener("emulator-ready", () => {
      sleepWhileHalted(this.emulator as unknown as V86Internals);
      if (state) restoreOverFreshMemory(this.emulator as unknown as V86Internals);
    });
    return new Promise<void>((resolve) =>
      this.emulator.add_listener("emulator-loaded", () => {
        releaseBuffers(state);
        resolve();
      }),
    );
  }

  /** Takes over the machine's network (a plan with `network`): its services, and connections into the guest. */
  attachNetwork(options: AttachOptions): Promise<GuestNetwork> {
    return attachGuestNetwork(this.emulator as unknown as Parameters<typeof attachGuestNetwork>[0], options);
  }

  /** Resets the machine: the guest boots again; disks (instance store included) keep their data. */
  reboot(): void {
    this.emulator.restart();
  }

  /** The machine's state (memory, CPU, devices; not the disks' contents) for a warm launch. */
  saveState(): Promise<ArrayBuffer> {
    return this.emulator.save_state();
  }

  /** Bytes for the guest's first serial port. */
  send(bytes: Uint8Array): void {
    this.emulator.serial_send_bytes(0, bytes);
  }

  /**
   * True when the CPU sits in HLT with interrupts off: nothing can wake it,
   * so the guest has stopped for good (v86 itself never says so).
   */
  haltedForGood(): boolean {
    const cpu = (this.emulator as unknown as V86Internals).v86?.cpu;
    if (!cpu?.in_hlt || !cpu.flags) return false;
    return cpu.in_hlt[0] === 1 && (cpu.flags[0]! & IF_FLAG) === 0;
  }

  async destroy(): Promise<void> {
    try {
      await this.emulator.destroy();
    } finally {
      for (const d of this.devices) d.close();
    }
  }
}

/**
 * An idle guest costs (nearly) nothing: v86's main loop returns, when the CPU
 * halts, the time to its next timer in ms, and under Node it polls with
 * setImmediate whenever that is under 1 ms. A timer of 3.8 ms fires after
 * 3 ms (Node's timers count whole ms), so a guest on a 250 Hz tick spun through the
 * last part of every tick: 23% of a core for an idle guest (measured). Here a
 * halted CPU sleeps until its deadline, rounded up to Node's 1 ms; an
 * interrupt from a device (disk, network, serial input) still wakes it at
 * once, because v86 starts a new tick then and the sleeping one is stale.
 */
function sleepWhileHalted(emulator: V86Internals): void {
  const machine = emulator.v86;
  if (!machine) return;
  machine.yield = (t, tick) => {
    if (t > 0) setTimeout(() => machine.yield_callback(tick), Math.max(1, Math.ceil(t)));
    else setImmediate(() => machine.yield_callback(tick));
  };
}

/** Below 1 MiB: the only guest memory v86 writes while it builds a machine (the BIOS and VGA BIOS images, at 0xC0000 to 1 MiB). */
const FIRMWARE_AREA_END = 0x100000;

/**
 * A warm launch restores a saved machine into the one just built. v86 first
 * zeroes all guest memory (the state holds only the pages that were not
 * zero), which took 88 ms of a 250 ms warm launch and made every page of a
 * 128 MiB guest resident. Memory just allocated is zero already except where
 * v86 put the firmware (no kernel, initrd or multiboot image is loaded for a
 * restore), so only that area is cleared; pages the state holds are written
 * whole, as before. Later restores (none today) zero everything again.
 */
function restoreOverFreshMemory(emulator: V86Internals): void {
  const cpu = emulator.v86?.cpu;
  if (!cpu) return;
  const zeroAll = cpu.zero_memory;
  cpu.zero_memory = (start, length) => {
    cpu.zero_memory = zeroAll;
    if (start === 0 && length === cpu.memory_size[0]) zeroAll(0, Math.min(length, FIRMWARE_AREA_END));
    else zeroAll(start, length);
  };
}

/** What differs between v86 machines here; the rest of v86's options bag is the same for all. */
interface MachineParts {
  memoryMiB: number;
  firmware: BootPlan["firmware"];
  disks: V86Disk[];
  autostart: boolean;
}

function machineOptions({ memoryMiB, firmware, disks, autostart }: MachineParts, { net_device, ...rest }: Partial<V86Options>): V86Options {
  return {
    wasm_path: WASM_PATH,
    wasm_fn: wasmFn,
    bios: { url: firmware.bios },
    ...(firmware.vgaBios ? { vga_bios: { url: firmware.vgaBios } } : {}),
    hda: disks[0] as unknown as V86Options["hda"],
    ...(disks[1] ? { hdb: disks[1] as unknown as V86Options["hdb"] } : {}),
    // The instance's NIC on v86's own user-space stack; a restored state keeps the MAC it saved (else its network breaks).
    ...(net_device ? { net_device, preserve_mac_from_state_image: true } : {}),
    memory_size: memoryMiB * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    autostart,
    ...rest,
  };
}

function openDisks(plan: BootPlan): BlockDevice[] {
  if (plan.disks.length === 0 || plan.disks.length > MAX_DISKS) throw tooManyDisks(plan.disks.length);
  const devices: BlockDevice[] = [];
  try {
    for (const spec of plan.disks) devices.push(openDisk(spec));
  } catch (err) {
    devices.forEach((d) => d.close());
    throw err;
  }
  return devices;
}

function tooManyDisks(n: number): Ec2Error {
  return new Ec2Error("UnsupportedOperation", `v86 attaches 1 to ${MAX_DISKS} hard disks (IDE primary master and slave); the plan has ${n}`, "boot.vmStart");
}

/** A saved state as v86's `initial_state`; its buffer goes once v86 has restored it (`releaseBuffers`). */
function savedState(file: string): { buffer: ArrayBuffer } {
  return { buffer: arrayBuffer(fs.readFileSync(file)) };
}

/**
 * v86 keeps what it loaded its files from for as long as the machine lives
 * (its start-up list of files is held by closures; seen: the state's buffer
 * outlived a full collection), so a state's buffer, as large as the guest's
 * non-zero memory, would stay: it is detached (moved to
 * a clone that is dropped) once v86 has restored it; v86 never reads it
 * again. And a worker whose machine waits for its launch allocates nothing,
 * so V8 would not collect the restore's garbage while it waits: collected
 * now, once v86's own frames have returned.
 */
function releaseBuffers(state: { buffer: ArrayBuffer } | undefined): void {
  if (!state) return;
  structuredClone(state.buffer, { transfer: [state.buffer] });
  setImmediate(fullGc);
}

/**
 * V8's full collection, where the thread has it: a boot pool starts V8 with
 * `gc` exposed (the flag counts for isolates made after it is set), so its
 * workers do; elsewhere this does nothing.
 */
function fullGc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Direct kernel boot: v86 loads the shim's kernel and initrd itself. */
function pvOptions(pv: PvKernel): Partial<V86Options> {
  return {
    bzimage: { buffer: arrayBuffer(pv.kernel) },
    ...(pv.initrd ? { initrd: { buffer: arrayBuffer(pv.initrd) } } : {}),
    cmdline: pv.cmdline,
  };
}

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return whole ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}
