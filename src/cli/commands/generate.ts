/** `anchorgrad generate`: answer a prompt about an image with an InternVL model directory. */
import { fromStorage } from "../../ops/create.js";
import { AnchorError } from "../../tensor/errors.js";
import { load } from "../../models/internvl/checkpoint.js";
import { tokensPerTile } from "../../models/internvl/config.js";
import { encodePrompt } from "../../models/internvl/conversation.js";
import { generate } from "../../models/internvl/generate.js";
import { preprocessImages } from "../../models/internvl/image.js";
import { NON_NEGATIVE_INT } from "../args.js";
import { BACKEND_FLAG, selectBackend } from "../backend.js";
import { defineCommand } from "../command.js";

export const generateCommand = defineCommand({
  name: "generate",
  summary: "answer a prompt about an image with an InternVL model directory",
  flags: [
    { name: "model", type: "path", required: true, description: "model directory (init-model output or an InternVL checkpoint)" },
    { name: "image", type: "path", defaultText: "none (a text-only prompt)", description: "image to ask about (PNG, JPEG, WebP)" },
    { name: "prompt", type: "string", required: true, description: "the question" },
    { name: "max-new-tokens", type: "integer", default: 64, description: "stop after this many generated tokens" },
    {
      name: "temperature",
      type: "number",
      default: 0,
      check: { ok: (t) => t >= 0, what: "a number >= 0" },
      description: "sampling temperature; 0 is greedy",
    },
    {
      name: "top-p",
      type: "number",
      default: 1,
      check: { ok: (p) => p > 0 && p <= 1, what: "a number in (0, 1]" },
      description: "nucleus sampling: keep the smallest set of tokens with this much probability",
    },
    { name: "seed", type: "integer", default: 0, check: NON_NEGATIVE_INT, description: "sampling seed" },
    { name: "system", type: "string", defaultText: "the checkpoint template's system prompt", description: "system prompt" },
    {
      name: "no-jit",
      type: "boolean",
      description: "run the prefill and each decoding step op by op instead of as jit-compiled programs (for debugging)",
    },
    BACKEND_FLAG,
  ],
  async action(values) {
    const backend = (await selectBackend(values.backend)).name;
    const model = await load(values.model as string);
    const { config, tokenizer } = model;
    if (!tokenizer) throw new AnchorError(`${values.model}: has no tokenizer.json; generate needs the checkpoint's tokenizer`);
    const images = values.image
      ? await preprocessImages([values.image as string], {
          imageSize: config.vision.imageSize,
          minTiles: config.tiling.minTiles,
          maxTiles: config.tiling.maxTiles,
          useThumbnail: config.tiling.useThumbnail,
          dynamic: config.tiling.dynamic,
        })
      : null;
    const ids = encodePrompt(tokenizer, {
      template: config.template,
      question: values.prompt as string,
      numImageToken: tokensPerTile(config),
      ...(images && { numTiles: images.numTiles }),
      ...(values.system !== undefined && { system: values.system as string }),
    });
    const out = await generate(model, {
      inputIds: fromStorage(Int32Array.from(ids), [1, ids.length], "int32", model.params.language.embed.weight.device), // ids live with the params
      pixelValues: images?.pixelValues ?? null,
      maxNewTokens: values["max-new-tokens"] as number,
      temperature: values.temperature as number,
      topP: values["top-p"] as number,
      seed: values.seed as number,
      ...(values["no-jit"] === true && { jit: false }),
    });
    console.log(out.text![0]);
    const s = out.stats;
    const tiles = images ? `, ${images.numTiles[0]} tile${images.numTiles[0] === 1 ? "" : "s"}` : "";
    console.error(
      `${s.newTokens} tokens in ${((s.prefillMs + s.decodeMs) / 1000).toFixed(2)} s: ${s.tokensPerSecond.toFixed(1)} tokens/s (prompt ${s.promptTokens} tokens${tiles}, prefill ${s.prefillMs.toFixed(0)} ms, ${backend})`,
    );
  },
});
