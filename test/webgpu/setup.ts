/**
 * The WebGPU suites' gate. With an adapter, `describeWebGPU` makes webgpu
 * available for the suite and releases the device afterwards (so the worker
 * process can exit). Without one it skips with one visible line saying how
 * to get a software adapter, except under CI=true or
 * ANCHORGRAD_REQUIRE_WEBGPU=1, where a missing adapter is a failing test.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import * as ag from "../../src/index.js";
import { releaseBackend } from "../../src/backends/registry.js";
import { loadWebGPU, webgpuStatus, type WebGPUBackend } from "../../src/backends/webgpu/index.js";

const status = await webgpuStatus();
export const adapterInfo = status.info;

/** What a WebGPU suite does here: run, fail (an adapter is required), or skip. */
export function gate(available: boolean, env: NodeJS.ProcessEnv): "run" | "fail" | "skip" {
  if (available) return "run";
  return env.ANCHORGRAD_REQUIRE_WEBGPU === "1" || env.CI === "true" ? "fail" : "skip";
}

/** The live backend inside a describeWebGPU body (set in beforeAll). */
export let gpu: WebGPUBackend;

export function describeWebGPU(name: string, body: () => void): void {
  const action = gate(status.available, process.env);
  if (action === "run") {
    describe(name, () => {
      beforeAll(async () => {
        await ag.useBackend("webgpu");
        gpu = await loadWebGPU();
      });
      afterAll(async () => {
        await releaseBackend("webgpu");
      });
      body();
    });
    return;
  }
  if (action === "fail") {
    describe(name, () =>
      it("has a WebGPU adapter (required by CI / ANCHORGRAD_REQUIRE_WEBGPU=1)", () => {
        throw new Error(status.reason);
      }),
    );
    return;
  }
  console.warn(`[webgpu] skipping "${name}": ${status.reason}`);
  describe.skip(name, body);
}

/** Values of a tensor from any device. */
export const values = async (t: ag.Tensor): Promise<number[]> => Array.from(await t.data());

/**
 * Assert float32 closeness: |a - b| <= rtol·|b| + atol·max(1, max|ref|),
 * NaNs in the same places; integer and bool dtypes must match exactly.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  o: { rtol?: number; atol?: number; exact?: boolean } = {},
): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  const rtol = o.rtol ?? 1e-4,
    atol = o.atol ?? 1e-4;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i]!)) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!,
      b = expected[i]!;
    const ok = o.exact
      ? a === b || (Number.isNaN(a) && Number.isNaN(b))
      : Number.isNaN(b)
        ? Number.isNaN(a)
        : !Number.isFinite(b)
          ? a === b
          : Math.abs(a - b) <= rtol * Math.abs(b) + atol * scale;
    if (!ok) throw new Error(`${what}: element ${i} is ${a}, expected ${b} (rtol ${rtol}, atol ${atol}·${scale.toPrecision(3)})`);
  }
}
