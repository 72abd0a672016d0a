/**
 * A small but real vision-language model for the training tests, written
 * with ag ops: a linear patch projection of an 8×8 image into one image
 * token, word embeddings, one causal self-attention block with a GELU MLP,
 * and an LM head. Word-level tokenizer; one image token per image tile.
 */
import sharp from "sharp";
import * as ag from "../../src/index.js";
import {
  dotProductAttention,
  embedding,
  geluMlp,
  initEmbedding,
  initGeluMlp,
  initLayerNorm,
  initLinear,
  layerNorm,
  linear,
  mergeHeads,
  splitHeads,
} from "../../src/nn/index.js";
import type { Pixels, VisionLanguageModel } from "../../src/train/index.js";

const SPECIAL = ["<pad>", "<user>", "<assistant>", "<eos>", "<img>"] as const;
const [PAD, USER, ASSISTANT, EOS, IMG] = [0, 1, 2, 3, 4];
const SIDE = 8,
  D = 32,
  HEADS = 2;

export const words = (s: string): string[] => s.match(/[A-Za-z]+|[^\sA-Za-z]/g) ?? [];

export function initStandinParams(vocab: number, seed = 0) {
  const s = (k: string) => ag.foldIn(seed, k);
  return {
    image: initLinear(s("image"), 3 * SIDE * SIDE, D, { std: 0.05 }),
    embed: initEmbedding(s("embed"), vocab, D, 0.1),
    ln1: initLayerNorm(D),
    ln2: initLayerNorm(D),
    lnf: initLayerNorm(D),
    qkv: initLinear(s("qkv"), D, 3 * D, { std: 0.1 }),
    proj: initLinear(s("proj"), D, D, { std: 0.1 }),
    mlp: initGeluMlp(s("mlp"), D, 2 * D),
    head: initLinear(s("head"), D, vocab, { std: 0.1, bias: false }),
  };
}
export type StandinParams = ReturnType<typeof initStandinParams>;

export function standinModel(vocabulary: readonly string[]): VisionLanguageModel<StandinParams> & { vocab: number } {
  const ids = new Map<string, number>([...SPECIAL, ...vocabulary].map((w, i) => [w, i]));
  const encodeWords = (s: string) =>
    words(s).map((w) => {
      const id = ids.get(w);
      if (id === undefined) throw new Error(`standin tokenizer: unknown word "${w}"`);
      return id;
    });
  const toPixels = (data: Uint8Array): ag.Tensor => {
    const chw = new Float32Array(3 * SIDE * SIDE);
    for (let p = 0; p < SIDE * SIDE; p++) for (let c = 0; c < 3; c++) chw[c * SIDE * SIDE + p] = data[p * 3 + c]! / 255 - 0.5;
    return ag.tensor(chw, { shape: [1, 3, SIDE, SIDE] });
  };
  return {
    name: "standin",
    vocab: ids.size,
    padId: PAD,
    async loadImages(paths): Promise<Pixels> {
      const tiles = [];
      for (const p of paths)
        tiles.push(toPixels(new Uint8Array(await sharp(p).resize(SIDE, SIDE, { kernel: "cubic" }).removeAlpha().raw().toBuffer())));
      const pixelValues = tiles.length === 1 ? tiles[0]! : ag.concat(tiles, 0);
      if (tiles.length > 1) tiles.forEach((t) => t.dispose());
      return { pixelValues, tiles: paths.map(() => 1) };
    },
    async blankImage() {
      return { pixelValues: toPixels(new Uint8Array(3 * SIDE * SIDE).fill(238)), tiles: [1] };
    },
    encodePrompt: (q, tiles) => [USER, ...tiles.flatMap((t) => Array(t).fill(IMG)), ...encodeWords(q), ASSISTANT],
    encodeReply: (text) => [...encodeWords(text), EOS],
    forward(p, { inputIds, pixelValues }) {
      const [N, T] = inputIds.shape as [number, number];
      let x = embedding(p.embed, inputIds); // [N, T, D]
      if (pixelValues) {
        // each row holds exactly one image tile here: its feature goes to that row's <img> position
        const feats = linear(p.image, ag.reshape(pixelValues, [pixelValues.shape[0]!, -1])); // [N, D]
        const isImg = ag.cast(ag.equal(inputIds, IMG), "float32"); // [N, T]
        x = ag.add(x, ag.mul(ag.expandDims(isImg, 2), ag.expandDims(feats, 1)));
      }
      const h = layerNorm(p.ln1, x, 1e-5);
      const [q, k, v] = ag.split(linear(p.qkv, h), 3, 2).map((t) => splitHeads(t, HEADS));
      x = ag.add(x, linear(p.proj, mergeHeads(dotProductAttention(q!, k!, v!, { causal: true }))));
      x = ag.add(x, geluMlp(p.mlp, layerNorm(p.ln2, x, 1e-5)));
      return ag.reshape(linear(p.head, layerNorm(p.lnf, x, 1e-5)), [N, T, -1]);
    },
  };
}
