/**
 * The GRUB legacy `menu.lst` parser PV-GRUB reads. Lenient as GRUB is:
 * unknown commands become warnings; hostile input is bounded in size.
 */

/** A GRUB device: `(hd0)` is the whole disk, `(hd0,N)` partition N (from 0). */
export interface GrubDevice {
  disk: number;
  partition?: number;
}

/** A file named by an entry, with the device its path may carry. */
export interface GrubPath {
  device?: GrubDevice;
  path: string;
}

export interface MenuEntry {
  index: number;
  title: string;
  root?: GrubDevice;
  kernel?: GrubPath & { args: string };
  initrd?: GrubPath;
  /** Line of the `title` command, from 1. */
  line: number;
}

export interface Menu {
  default: number;
  fallback: number[];
  timeout?: number;
  hiddenmenu: boolean;
  entries: MenuEntry[];
  warnings: string[];
}

const MAX_TEXT = 64 * 1024;
const MAX_ENTRIES = 256;
const MAX_WARNINGS = 50;
/** Commands GRUB knows that have no meaning for a PV boot: accepted silently. */
const IGNORED = new Set(["boot", "savedefault", "color", "password", "splashimage", "gfxmenu", "serial", "terminal", "lock", "makeactive"]);

export function formatDevice(d: GrubDevice): string {
  return d.partition === undefined ? `(hd${d.disk})` : `(hd${d.disk},${d.partition})`;
}

export function parseMenuLst(text: string): Menu {
  const menu: Menu = { default: 0, fallback: [], hiddenmenu: false, entries: [], warnings: [] };
  const warn = (line: number, message: string) => {
    if (menu.warnings.length < MAX_WARNINGS) menu.warnings.push(`line ${line}: ${message}`);
  };
  if (text.length > MAX_TEXT) {
    warn(0, `menu.lst is ${text.length} bytes; only the first ${MAX_TEXT} are read`);
    text = text.slice(0, MAX_TEXT);
  }
  let entry: MenuEntry | undefined;
  let defaultText: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    // The command ends at the first blank or '='; GRUB allows either.
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)(?:[ \t]*=[ \t]*|[ \t]+|$)(.*)$/.exec(line);
    if (!m) {
      warn(n, `cannot read '${clip(line)}'`);
      continue;
    }
    const command = m[1]!.toLowerCase();
    const arg = m[2]!.trim();
    if (command === "title") {
      if (menu.entries.length >= MAX_ENTRIES) {
        warn(n, `more than ${MAX_ENTRIES} entries; the rest are ignored`);
        break;
      }
      entry = { index: menu.entries.length, title: arg, line: n };
      menu.entries.push(entry);
      continue;
    }
    if (!entry) {
      switch (command) {
        case "default":
          defaultText = arg;
          if (arg === "saved") {
            warn(n, "'default saved' needs GRUB's saved-default file; using entry 0");
          } else if (!/^\d+$/.test(arg)) warn(n, `default '${clip(arg)}' is not an entry number; using 0`);
          else menu.default = Number(arg);
          continue;
        case "fallback": {
          const nums = arg.split(/[ \t]+/).filter((s) => /^\d+$/.test(s));
          if (nums.length === 0) warn(n, `fallback '${clip(arg)}' names no entry number`);
          menu.fallback = nums.map(Number);
          continue;
        }
        case "timeout":
          if (/^\d+$/.test(arg)) menu.timeout = Number(arg);
          else warn(n, `timeout '${clip(arg)}' is not a number`);
          continue;
        case "hiddenmenu":
          menu.hiddenmenu = true;
          continue;
      }
    } else {
      switch (command) {
        case "root":
        case "rootnoverify": {
          const dev = parseDevice(arg);
          if (dev && dev.rest === "") entry.root = dev.device;
          else warn(n, `root '${clip(arg)}' is not a device like (hd0) or (hd0,0)`);
          continue;
        }
        case "kernel": {
          // Options such as --type=netbsd come before the path.
          const words = arg.split(/[ \t]+/).filter((w) => w !== "");
          while (words[0]?.startsWith("--")) words.shift();
          const file = words.length ? parsePath(words[0]!) : undefined;
          if (!file) warn(n, `kernel needs a path, got '${clip(arg)}'`);
          else entry.kernel = { ...file, args: words.slice(1).join(" ") };
          continue;
        }
        case "initrd": {
          const file = parsePath(arg.split(/[ \t]+/)[0] ?? "");
          if (!file) warn(n, `initrd needs a path, got '${clip(arg)}'`);
          else entry.initrd = file;
          continue;
        }
      }
    }
    if (!IGNORED.has(command)) warn(n, `unknown or misplaced command '${clip(command)}' ignored`);
  }
  if (menu.default >= menu.entries.length && menu.entries.length > 0) {
    warn(0, `default ${defaultText} names no entry (there are ${menu.entries.length}); using 0`);
    menu.default = 0;
  }
  return menu;
}

/** `(hd0,1)/boot/vmlinuz` or `/boot/vmlinuz`. */
function parsePath(word: string): GrubPath | undefined {
  if (word.startsWith("(")) {
    const dev = parseDevice(word);
    if (!dev || !dev.rest.startsWith("/")) return undefined;
    return { device: dev.device, path: dev.rest };
  }
  return word.startsWith("/") ? { path: word } : undefined;
}

function parseDevice(text: string): { device: GrubDevice; rest: string } | undefined {
  const m = /^\(hd(\d{1,3})(?:,(\d{1,3}))?\)(.*)$/.exec(text.trim());
  if (!m) return undefined;
  const device: GrubDevice = { disk: Number(m[1]) };
  if (m[2] !== undefined) device.partition = Number(m[2]);
  return { device, rest: m[3]! };
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
