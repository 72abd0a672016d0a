/** Data: InternVL's MPO preference format, POPE files and the synthetic shapes set. */
export { DataError } from "./errors.js";
export {
  readMeta,
  readMpoJsonl,
  readMpoMeta,
  type MetaEntry,
  type MetaResult,
  type PreferenceRow,
  type ReadOptions,
  type ReadResult,
} from "./mpo.js";
export { readPope, type PopeRow } from "./pope.js";
export { generateShapes, POPE_SPLITS, type PopeSplit, type ShapesManifest, type ShapesOptions } from "./shapes.js";
export { Stream } from "./rng.js";
