#!/usr/bin/env -S node --v8-pool-size=1
// The amiboot command: the compiled CLI (npm run build).
// --v8-pool-size=1: one V8 background thread instead of one per core leaves the
// cores to the emulators; measured 0.85x the wall time of a cold HVM boot
// (then npm run bench:boot; now amiboot bench --process).
import "../dist/src/cli/main.js";
