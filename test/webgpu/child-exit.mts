// Run by runtime.test.ts in a child process: Dawn must not load until
// webgpu is used, ANCHORGRAD_BACKEND=webgpu must select it, and after
// releaseBackend the process must exit on its own (no timers, no device).
import { readFileSync } from "node:fs";
import * as ag from "../../src/index.js";
import { releaseBackend } from "../../src/backends/registry.js";

const dawnLoaded = () => readFileSync("/proc/self/maps", "utf8").includes("dawn.node");
const before = dawnLoaded();
await ag.sum(ag.tensor([1, 2, 3])).data(); // cpu work alone
const afterCpu = dawnLoaded();
const b = await ag.useBackendFromEnv();
const value = (await ag.sum(ag.tensor([1, 2, 3])).data())[0];
await releaseBackend("webgpu");
console.log(JSON.stringify({ before, afterCpu, backend: b.name, value, after: dawnLoaded(), current: ag.currentBackend().name }));
