/**
 * InternVL as a VisionLanguageModel: the checkpoint's chat template and
 * tokenizer build the prompt (image placeholders expanded to
 * <img><IMG_CONTEXT>×(tokens per tile · tiles)</img>), replies end with
 * <|im_end|> as in InternVL's SFT and MPO data, and images go through the
 * checkpoint's dynamic tiling and ImageNet normalisation.
 */
import { tokensPerTile, type InternVLConfig } from "../models/internvl/config.js";
import { encodePrompt } from "../models/internvl/conversation.js";
import { preprocessImages, solidImage } from "../models/internvl/image.js";
import { embedIndex, forward, readIds } from "../models/internvl/model.js";
import { fromStorage, knownValues } from "../ops/create.js";
import type { InternVLParams } from "../models/internvl/params.js";
import type { InternVLTokenizer } from "../models/internvl/tokenizer.js";
import { AnchorError } from "../tensor/errors.js";
import type { Pixels, VisionLanguageModel } from "./model.js";

export interface InternVLAdapterOptions {
  /** System message (default: the template's own). */
  system?: string;
  /** The "no visual evidence" image for visualReliance (default: a black tile). */
  blankImage?: string;
}

export function internvlModel(
  model: { config: InternVLConfig; tokenizer: InternVLTokenizer | null },
  opts: InternVLAdapterOptions = {},
): VisionLanguageModel<InternVLParams> {
  const { config, tokenizer } = model;
  if (!tokenizer) throw new AnchorError("internvlModel: the model directory has no tokenizer.json; training needs one to encode the data");
  const tiling = {
    imageSize: config.vision.imageSize,
    minTiles: config.tiling.minTiles,
    maxTiles: config.tiling.maxTiles,
    useThumbnail: config.tiling.useThumbnail,
    dynamic: config.tiling.dynamic,
  };
  const toPixels = async (sources: Parameters<typeof preprocessImages>[0]): Promise<Pixels> => {
    const p = await preprocessImages(sources, tiling);
    return { pixelValues: p.pixelValues, tiles: p.numTiles };
  };
  return {
    name: `internvl (${config.text.arch}, ${config.text.numLayers} layers)`,
    padId: tokenizer.specialIds.pad ?? tokenizer.specialIds.imEnd,
    loadImages: (paths) => toPixels(paths),
    blankImage: () => toPixels([opts.blankImage ?? solidImage(config.vision.imageSize, config.vision.imageSize, [0, 0, 0])]),
    encodePrompt: (question, tiles) =>
      encodePrompt(tokenizer, {
        template: config.template,
        question,
        numTiles: tiles,
        numImageToken: tokensPerTile(config),
        ...(opts.system !== undefined && { system: opts.system }),
      }),
    encodeReply: (text) => [...tokenizer.encode(text), tokenizer.specialIds.imEnd],
    prepare(inputs) {
      if (!knownValues(inputs.inputIds)) return inputs; // ids the forward reads itself
      // checked here, on the host (vocabulary, image tokens against the tiles), so that a jitted forward reads nothing
      const ids = readIds(config, inputs.inputIds, inputs.inputIds.device);
      const tiles = inputs.pixelValues?.shape[0] ?? 0;
      const index = embedIndex(
        config,
        ids,
        tiles * tokensPerTile(config),
        tiles ? `the batch's ${tiles} tiles` : "the batch has no images",
      );
      if (!inputs.pixelValues) return inputs;
      return { ...inputs, extra: { embedIndex: fromStorage(index, [index.length], "int32", inputs.inputIds.device) } };
    },
    forward: (params, inputs) =>
      forward(config, params, { inputIds: inputs.inputIds, pixelValues: inputs.pixelValues, embedIndex: inputs.extra?.embedIndex ?? null }),
  };
}
