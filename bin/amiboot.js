#!/usr/bin/env node
// The amiboot command: the compiled CLI (npm run build).
import "../dist/src/cli/main.js";
