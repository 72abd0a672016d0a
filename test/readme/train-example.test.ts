/**
 * The README's training example runs as written on the CPU, type-checks,
 * and with its one backend line changed to "webgpu" trains on the GPU to
 * the CPU's losses (1e-3 relative).
 */
import { afterAll, describe, expect, it } from "vitest";
import { runReadmeBlock, type ReadmeRun } from "../helpers/readme.js";
import { describeWebGPU } from "../webgpu/setup.js";

const BACKEND_LINE = 'await ag.useBackend("cpu");';
const runs: ReadmeRun[] = [];
afterAll(() => runs.forEach((r) => r.cleanup()));

/** The example's printed backend, loss and margins. */
async function outcome(run: ReadmeRun): Promise<{ backend: string; loss: number; margins: number }> {
  const { code, out } = await run.execution;
  expect(code, out).toBe(0);
  const m = /^(\w+): step 5, loss (\S+), margins (\S+)$/m.exec(out);
  expect(m, out).not.toBeNull();
  return { backend: m![1]!, loss: Number(m![2]), margins: Number(m![3]) };
}

let cpu: ReturnType<typeof outcome> | null = null;
const onCpu = () => {
  if (!cpu) {
    const run = runReadmeBlock("train-example");
    runs.push(run);
    cpu = outcome(run);
  }
  return cpu;
};

describe("README: the training example", () => {
  it("trains 5 steps on the cpu as written", async () => {
    const r = await onCpu();
    expect(r.backend).toBe("cpu");
    expect(Number.isFinite(r.loss) && Number.isFinite(r.margins)).toBe(true);
  }, 240_000);

  it("type-checks under strict TypeScript", async () => {
    const run = runReadmeBlock("train-example");
    runs.push(run);
    expect(await run.typeErrors).toEqual([]);
  }, 240_000);
});

describeWebGPU("README: the training example on webgpu", () => {
  it('with "webgpu" in its one backend line, trains on the GPU to the cpu\'s numbers', async () => {
    const run = runReadmeBlock("train-example", (code) => {
      expect(code.split("\n").filter((l) => l.startsWith(BACKEND_LINE))).toHaveLength(1);
      return code.replace(BACKEND_LINE, 'await ag.useBackend("webgpu");');
    });
    runs.push(run);
    const [gpu, ref] = [await outcome(run), await onCpu()];
    expect(gpu.backend).toBe("webgpu");
    expect(Math.abs(gpu.loss - ref.loss) / Math.abs(ref.loss), `loss ${gpu.loss} vs cpu ${ref.loss}`).toBeLessThan(1e-3);
    expect(Math.abs(gpu.margins - ref.margins), `margins ${gpu.margins} vs cpu ${ref.margins}`).toBeLessThan(1e-3);
  }, 240_000);
});
