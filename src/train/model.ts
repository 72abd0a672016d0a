/**
 * What training needs from a vision-language model: how to turn a row's
 * images and text into token ids and pixels, and a pure forward pass. An
 * InternVL checkpoint is adapted to this by `internvlModel` (internvl.ts); a
 * test can supply any small model written with ag ops.
 */
import type { Tensor } from "../tensor/tensor.js";

export interface Pixels {
  /** [tiles, C, H, W]: every tile of every image of one example, in order. */
  pixelValues: Tensor;
  /** Tiles per image (InternVL's dynamic tiling gives each image 1 or more). */
  tiles: number[];
}

export interface ModelInputs {
  /** [N, T] int32, right-padded with the model's pad id. */
  inputIds: Tensor;
  /** The tiles of rows 0..N-1 concatenated in row order, or null when no row has an image. */
  pixelValues: Tensor | null;
  /** [N, T] 1 for real tokens and 0 for padding (float32). */
  attentionMask: Tensor;
  /** Whatever else the model's prepare() derives on the host from the ids (InternVL: where image tokens go). */
  extra?: Record<string, Tensor>;
}

export interface VisionLanguageModel<P = unknown> {
  readonly name: string;
  /** Decode and preprocess the images of one example (called outside any ag.scope; results are cached). */
  loadImages(paths: readonly string[]): Promise<Pixels>;
  /** A plain image of the same size, for the "no visual evidence" baseline. */
  blankImage(): Promise<Pixels>;
  /** The prompt up to where the assistant's reply starts, with the image tokens for `tiles`. */
  encodePrompt(question: string, tiles: readonly number[]): number[];
  /** The reply's ids, ending with the end-of-turn token. */
  encodeReply(text: string): number[];
  readonly padId: number;
  /**
   * Host work on concrete inputs before the forward (optional): what it
   * derives from the ids' values goes into `extra`, so that a jitted forward,
   * whose inputs are abstract, never reads ids on the host.
   */
  prepare?(inputs: ModelInputs): ModelInputs;
  /** Logits [N, T, V]; must be pure in `params` so it can be differentiated. */
  forward(params: P, inputs: ModelInputs): Tensor;
}
