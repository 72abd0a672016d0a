/** `anchorgrad generate`: answer a prompt about an image with an InternVL model directory. */
import { useBackend } from "../../backends/registry.js";
import { fromStorage } from "../../ops/create.js";
import { AnchorError } from "../../tensor/errors.js";
import { load } from "../../models/internvl/checkpoint.js";
import { tokensPerTile } from "../../models/internvl/config.js";
import { encodePrompt } from "../../models/internvl/conversation.js";
import { generate } from "../../models/internvl/generate.js";
import { preprocessImages } from "../../models/internvl/image.js";
import { intFlag, numberFlag, parseFlags, UsageError } from "../args.js";
import type { Command } from "../command.js";

export const generateCommand: Command = {
  name: "generate",
  summary: "answer a prompt about an image with an InternVL model directory",
  usage:
    "anchorgrad generate --model DIR [--image FILE] --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--system TEXT] [--backend cpu|webgpu]",
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: "string" },
      image: { type: "string" },
      prompt: { type: "string" },
      "max-new-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      system: { type: "string" },
      backend: { type: "string", default: "cpu" },
    });
    if (!values.model) throw new UsageError("--model DIR is required");
    if (values.prompt === undefined) throw new UsageError("--prompt TEXT is required");
    const maxNewTokens = intFlag(values["max-new-tokens"], "max-new-tokens", 64);
    const temperature = numberFlag(values.temperature, "temperature", 0, (v) => v >= 0, "≥ 0");
    const topP = numberFlag(values["top-p"], "top-p", 1, (v) => v > 0 && v <= 1, "in (0, 1]");
    const seed = intFlag(values.seed, "seed", 0, 0);
    const backend = values.backend as string;
    if (backend !== "cpu" && backend !== "webgpu") throw new UsageError(`--backend must be cpu or webgpu, got "${backend}"`);
    await useBackend(backend);

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
      inputIds: fromStorage(Int32Array.from(ids), [1, ids.length], "int32", "cpu"),
      pixelValues: images?.pixelValues ?? null,
      maxNewTokens,
      temperature,
      topP,
      seed,
    });
    console.log(out.text![0]);
    const s = out.stats;
    const tiles = images ? `, ${images.numTiles[0]} tile${images.numTiles[0] === 1 ? "" : "s"}` : "";
    console.error(
      `${s.newTokens} tokens in ${((s.prefillMs + s.decodeMs) / 1000).toFixed(2)} s: ${s.tokensPerSecond.toFixed(1)} tokens/s (prompt ${s.promptTokens} tokens${tiles}, prefill ${s.prefillMs.toFixed(0)} ms, ${backend})`,
    );
  },
};
