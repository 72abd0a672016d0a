// Run by runtime.test.ts with no Vulkan driver: webgpu must report why it is unavailable.
import * as ag from "../../src/index.js";
console.log(JSON.stringify((await ag.backends()).find((b) => b.name === "webgpu")));
