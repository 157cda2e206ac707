#!/usr/bin/env bun
// The `tandem` command (package.json "bin"); runs under the Bun from node_modules.
import "../agent/main.ts";
