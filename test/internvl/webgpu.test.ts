/**
 * The tiny model on WebGPU gives the CPU's logits, gradients and greedy
 * tokens (inputIds stay on the cpu: their values place the image features).
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeWebGPU, expectClose, values } from "../webgpu/setup.js";
import { iv, tempDir, twoImagePrompt } from "./helpers.js";

const dir = tempDir("webgpu");
const made = await iv.createModel(dir, { preset: "tiny-qwen3", layout: "hf", seed: 31 });
const ids = twoImagePrompt(made.config, 1, 1);
const pixels = ag.randomNormal([2, 3, 56, 56], { seed: 32 });
const loss = (p: ag.models.internvl.InternVLParams, px: ag.Tensor) =>
  ag.mean(ag.logSoftmax(iv.forward(made.config, p, { inputIds: ids, pixelValues: px })));
const cpu = {
  logits: Array.from(iv.forward(made.config, made.params, { inputIds: ids, pixelValues: pixels }).dataSync()),
  grad: Array.from(ag.grad(loss)(made.params, pixels).vision.layers[0]!.attn.qkv.kernel.dataSync()),
  tokens: (await iv.generate(made, { inputIds: ids, pixelValues: pixels, maxNewTokens: 3, stopTokenIds: [] })).tokens,
};
const pixelData = pixels.dataSync();

describeWebGPU("InternVL on WebGPU", () => {
  it("matches the CPU's logits, gradients and greedy tokens", async () => {
    const m = await iv.load(dir);
    expect(m.params.language.embed.weight.device).toBe("webgpu");
    const px = ag.tensor(pixelData, { shape: [2, 3, 56, 56] });
    expectClose(await values(iv.forward(m.config, m.params, { inputIds: ids, pixelValues: px })), cpu.logits, "logits");
    expectClose(await values(ag.grad(loss)(m.params, px).vision.layers[0]!.attn.qkv.kernel), cpu.grad, "d loss / d qkv", {
      rtol: 1e-3,
      atol: 1e-3,
    });
    expect((await iv.generate(m, { inputIds: ids, pixelValues: px, maxNewTokens: 3, stopTokenIds: [] })).tokens).toEqual(cpu.tokens);
    await expect(async () => iv.forward(m.config, m.params, { inputIds: ag.tensor([[1, 2]], { dtype: "int32" }) })).rejects.toThrow(
      /inputIds live on webgpu, which cannot be read synchronously/,
    );
  }, 300_000);
});
