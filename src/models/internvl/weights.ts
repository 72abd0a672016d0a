/**
 * Parameters to and from safetensors checkpoints, in either layout, through
 * the table in params.ts. Loading first checks every name and shape against
 * the table and reports all problems in one error, then reads one tensor at
 * a time (so peak memory is the model plus one tensor).
 */
import { openCheckpoint, writeSafetensors, type TensorSource } from "../../io/safetensors.js";
import { concat, split, transpose } from "../../ops/shape.js";
import type { DType } from "../../tensor/dtype.js";
import { AnchorError } from "../../tensor/errors.js";
import { fmt, sameShape } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { InternVLConfig, Layout } from "./config.js";
import { getIn, hfLegacyName, paramSpecs, setIn, type InternVLParams, type ParamSpec } from "./params.js";

/** A checkpoint whose tensors do not match the config: every missing, unexpected and wrongly shaped key at once. */
export class WeightsError extends AnchorError {
  override name = "WeightsError";
}

/** Buffers some checkpoints carry that are not parameters (recomputed, never loaded). */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

const list = (items: string[], limit = 40) =>
  items.slice(0, limit).join("\n    ") + (items.length > limit ? `\n    ... and ${items.length - limit} more` : "");

/** Shape of the (joined) checkpoint tensor of a spec. */
const storedShape = (spec: ParamSpec): readonly number[] => (spec.transposed ? [...spec.shape].reverse() : spec.shape);

/** Checkpoint names of one spec as `source` spells them (the "-hf" layout has two spellings). */
function namesIn(spec: ParamSpec, layout: Layout, legacy: boolean): readonly string[] {
  const names = spec.names[layout];
  return legacy ? names.map(hfLegacyName) : names;
}

export interface LoadWeightsOptions {
  /** Where the tensors came from, for messages. */
  readonly label?: string;
  /** dtype of the loaded parameters (default float32). */
  readonly dtype?: DType;
}

/**
 * Read the parameters of `c` from `source` (checkpoint names in `layout`).
 * The checkpoint decides the head: an lm_head tensor is loaded as an untied
 * head, a missing one ties the head to the embeddings (`load` sets the
 * config's tie_word_embeddings to match).
 */
export async function loadWeights(
  source: TensorSource,
  c: InternVLConfig,
  layout: Layout,
  opts: LoadWeightsOptions = {},
): Promise<InternVLParams> {
  const label = opts.label ?? "checkpoint";
  const legacy =
    layout === "hf" && !source.has("model.language_model.embed_tokens.weight") && source.has("language_model.model.embed_tokens.weight");
  checkLayerCounts(source, c, layout, legacy, label);
  // the head is optional whatever the config says: present means untied (safetensors drops tied copies)
  const specs = paramSpecs({ ...c, text: { ...c.text, tieWordEmbeddings: false } });
  const used = new Set<string>();
  const missing: string[] = [],
    wrong: string[] = [],
    present: ParamSpec[] = [];
  for (const spec of specs) {
    const names = namesIn(spec, layout, legacy);
    names.forEach((n) => used.add(n));
    const absent = names.filter((n) => !source.has(n));
    if (absent.length) {
      const want = storedShape(spec);
      if (!spec.optional)
        missing.push(...absent.map((n) => `${n} ${fmt(names.length > 1 ? [want[0]! / names.length, ...want.slice(1)] : want)}`));
      continue;
    }
    const rows = names.map((n) => source.info(n).shape);
    const want = storedShape(spec);
    const joined = [rows.reduce((s, r) => s + (r[0] ?? 0), 0), ...rows[0]!.slice(1)];
    if (rows.some((r) => r.length !== want.length || !sameShape(r.slice(1), want.slice(1))) || !sameShape(joined, want)) {
      wrong.push(
        `${names.join(" + ")}: ${rows.map(fmt).join(" + ")} in the checkpoint, ${fmt(names.length > 1 ? [want[0]! / names.length, ...want.slice(1)] : want)}${names.length > 1 ? " each" : ""} expected`,
      );
      continue;
    }
    present.push(spec);
  }
  const unexpected = source.names.filter((n) => !used.has(n) && !IGNORED.test(n));
  if (missing.length || wrong.length || unexpected.length) {
    const parts = [
      missing.length && `${missing.length} missing:\n    ${list(missing)}`,
      wrong.length && `${wrong.length} with the wrong shape:\n    ${list(wrong)}`,
      unexpected.length && `${unexpected.length} unexpected:\n    ${list(unexpected)}`,
    ].filter(Boolean);
    throw new WeightsError(
      `${label}: the tensors do not match the ${layout === "hf" ? '"-hf"' : "original"}-layout config (${c.text.arch}, ${c.vision.numLayers}+${c.text.numLayers} layers):\n  ${parts.join("\n  ")}`,
    );
  }
  const tree: Record<string, unknown> = {};
  const dtype = opts.dtype ?? "float32";
  for (const spec of present) {
    const names = namesIn(spec, layout, legacy);
    const parts: Tensor[] = [];
    for (const n of names) parts.push(await source.read(n, { dtype }));
    const joined = concat(parts, 0);
    if (parts.length > 1) parts.forEach((t) => t.dispose());
    const value = spec.transposed ? transpose(joined) : joined;
    if (value !== joined) joined.dispose();
    setIn(tree, spec.path, value);
  }
  return tree as unknown as InternVLParams;
}

/**
 * Compare config.json's layer counts with the layers the checkpoint holds,
 * before anything is built from the config: the table of expected tensors
 * grows with the layer count, so `num_hidden_layers: 1000000` would
 * otherwise exhaust memory listing a million layers' names. Once the counts
 * agree, that table is as long as the checkpoint's own list of names.
 */
function checkLayerCounts(source: TensorSource, c: InternVLConfig, layout: Layout, legacy: boolean, label: string): void {
  const one = paramSpecs({ ...c, vision: { ...c.vision, numLayers: 1 }, text: { ...c.text, numLayers: 1 } });
  const stacks = [
    { part: "vision" as const, field: "vision_config", want: c.vision.numLayers },
    { part: "language" as const, field: layout === "hf" ? "text_config" : "llm_config", want: c.text.numLayers },
  ];
  for (const { part, field, want } of stacks) {
    const first = namesIn(
      one.find((s) => s.path[0] === part && s.path[1] === "layers")!,
      layout,
      legacy,
    )[0]!;
    const prefix = first.slice(0, first.indexOf(".0.") + 1);
    const found = new Set<number>();
    let last = -1;
    for (const n of source.names) {
      const index = n.startsWith(prefix) ? /^\d+(?=\.)/.exec(n.slice(prefix.length)) : null;
      if (!index) continue;
      found.add(Number(index[0]));
      last = Math.max(last, Number(index[0]));
    }
    if (found.size !== want || last !== want - 1) {
      const held = found.size ? `${found.size} (${prefix}N, N up to ${last})` : "none";
      throw new WeightsError(
        `${label}: config.json's ${field}.num_hidden_layers is ${want}, but the checkpoint's ${part} layers are ${held}; config.json does not describe these weights`,
      );
    }
  }
}

/** Open `dir`'s safetensors (single file or shards) and load from it. */
export async function loadWeightsFromDir(
  dir: string,
  c: InternVLConfig,
  layout: Layout,
  opts: LoadWeightsOptions = {},
): Promise<InternVLParams> {
  const ckpt = await openCheckpoint(dir);
  try {
    return await loadWeights(ckpt, c, layout, { label: dir, ...opts });
  } finally {
    await ckpt.close();
  }
}

/** Checkpoint name -> tensor for `params` in `layout` (fused qkv split again for "-hf"). */
export function checkpointTensors(c: InternVLConfig, params: InternVLParams, layout: Layout): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const problems: string[] = [];
  for (const spec of paramSpecs(c)) {
    const t = getIn(params, spec.path) as Tensor | undefined;
    if (!t) {
      if (!spec.optional) problems.push(`${spec.path.join(".")} is missing`);
      continue;
    }
    if (!sameShape(t.shape, spec.shape)) {
      problems.push(`${spec.path.join(".")} is ${fmt(t.shape)}, ${fmt(spec.shape)} expected`);
      continue;
    }
    const names = spec.names[layout];
    const stored = spec.transposed ? transpose(t) : t;
    const pieces = names.length > 1 ? split(stored, names.length, 0) : [stored];
    names.forEach((n, i) => {
      out[n] = pieces[i]!;
    });
  }
  if (problems.length) throw new WeightsError(`save: the parameters do not match the config:\n  ${list(problems)}`);
  return out;
}

export interface SaveWeightsOptions {
  /** Storage dtype of floating tensors (default F32, which round-trips float32 bit for bit). */
  readonly dtype?: "F32" | "BF16" | "F16";
}

/** Write `params` as one safetensors file in `layout`'s names (atomically). */
export async function saveWeights(
  path: string,
  c: InternVLConfig,
  params: InternVLParams,
  layout: Layout,
  opts: SaveWeightsOptions = {},
): Promise<void> {
  await writeSafetensors(path, checkpointTensors(c, params, layout), { format: "pt" }, { dtype: opts.dtype ?? "F32" });
}
