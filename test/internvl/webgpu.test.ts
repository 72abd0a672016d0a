/**
 * The tiny model on WebGPU gives the CPU's logits, gradients and greedy
 * tokens. One device rule: the ids live with the parameters; made from host
 * values there, their values (which place the image features) are known
 * without a readback; ids on another backend, or computed on the GPU, are
 * refused with a message that says which.
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generationPrograms } from "../../src/models/internvl/jitted.js";
import { describeWebGPU, expectClose, values } from "../webgpu/setup.js";
import { iv, tempDir, twoImagePrompt } from "./helpers.js";

const dir = tempDir("webgpu");
const made = await iv.createModel(dir, { preset: "tiny-qwen3", layout: "hf", seed: 31 });
const ids = twoImagePrompt(made.config, 1, 1);
const pixels = ag.randomNormal([2, 3, 56, 56], { seed: 32 });
const loss = (p: ag.models.internvl.InternVLParams, px: ag.Tensor, inputIds = ids) =>
  ag.mean(ag.logSoftmax(iv.forward(made.config, p, { inputIds, pixelValues: px })));
const cpu = {
  logits: Array.from(iv.forward(made.config, made.params, { inputIds: ids, pixelValues: pixels }).dataSync()),
  grad: Array.from(ag.grad(loss)(made.params, pixels).vision.layers[0]!.attn.qkv.kernel.dataSync()),
  tokens: (await iv.generate(made, { inputIds: ids, pixelValues: pixels, maxNewTokens: 3, stopTokenIds: [] })).tokens,
  long: (await iv.generate(made, { inputIds: ids, pixelValues: pixels, maxNewTokens: 12, stopTokenIds: [], jit: false })).tokens,
};
const pixelData = pixels.dataSync();

describeWebGPU("InternVL on WebGPU", () => {
  it("matches the CPU's logits, gradients and greedy tokens", async () => {
    const m = await iv.load(dir);
    expect(m.params.language.embed.weight.device).toBe("webgpu");
    const px = ag.tensor(pixelData, { shape: [2, 3, 56, 56] });
    const gpuIds = await ag.toBackend(ids, "webgpu");
    expect(gpuIds.device).toBe("webgpu");
    expectClose(await values(iv.forward(m.config, m.params, { inputIds: gpuIds, pixelValues: px })), cpu.logits, "logits");
    expectClose(await values(ag.grad(loss)(m.params, px, gpuIds).vision.layers[0]!.attn.qkv.kernel), cpu.grad, "d loss / d qkv", {
      rtol: 1e-3,
      atol: 1e-3,
    });
    expect((await iv.generate(m, { inputIds: gpuIds, pixelValues: px, maxNewTokens: 3, stopTokenIds: [] })).tokens).toEqual(cpu.tokens);
    // generate's compiled passes (jitted prefill, one decoding-step program over a fixed-capacity cache) on the GPU
    const long = { inputIds: gpuIds, pixelValues: px, maxNewTokens: 12, stopTokenIds: [] };
    expect((await iv.generate(m, long)).tokens).toEqual(cpu.long);
    expect((await iv.generate(m, { ...long, jit: false })).tokens).toEqual(cpu.long);
    expect(generationPrograms(m.config).step.traces).toBe(2); // one per cache capacity (3 and 12 new tokens), not per step
    expect(() => iv.forward(m.config, m.params, { inputIds: ids, pixelValues: px })).toThrow(
      /inputIds live on cpu and the parameters on webgpu/,
    );
    expect(() => iv.forward(m.config, m.params, { inputIds: ag.add(gpuIds, 0), pixelValues: px })).toThrow(
      /inputIds were computed on webgpu, so their values are not known on the host/,
    );
  }, 300_000);
});
