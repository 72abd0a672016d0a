/**
 * Safetensors files: read one tensor at a time from disk; write atomically.
 *
 * The format: an unsigned 64-bit little-endian header length N, N bytes of
 * UTF-8 JSON mapping each tensor name to `{ dtype, shape, data_offsets:
 * [begin, end] }` (byte offsets into the data section that follows the
 * header) plus an optional `"__metadata__"` map of strings, then the raw
 * little-endian tensor bytes.
 *
 * Opening a file reads and validates only the header, so a truncated or
 * corrupt file fails at open with a SafetensorsError naming the file and the
 * problem. `read(name)` then fetches that one tensor's bytes with positioned
 * reads, in bounded chunks, so a 2 GB checkpoint never sits whole in memory.
 */
import { randomBytes } from "node:crypto";
import { open, readdir, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  allocArray,
  fromBFloat16Bits,
  fromFloat16Bits,
  fromNumbers,
  isFloat,
  toBFloat16Bits,
  toFloat16Bits,
  toNumbers,
  type DType,
  type StorageArray,
} from "../tensor/dtype.js";
import { fromStorage } from "../ops/create.js";
import { AnchorError, DTypeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { decodeUtf8, openRegular, readRegularFile } from "./files.js";
import { parseJson } from "./json.js";

/** A file that is not valid safetensors, or a checkpoint directory that is not a model. */
export class SafetensorsError extends AnchorError {
  override name = "SafetensorsError";
}

/** The safetensors dtypes decoded here. */
export type SafetensorsDType = "BF16" | "F16" | "F32" | "F64" | "I64" | "I32" | "U8" | "BOOL";

const ELEMENT_BYTES: Record<SafetensorsDType, number> = { BF16: 2, F16: 2, F32: 4, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };
/** Valid in the format but not decoded here; named apart so the error says so. */
const UNSUPPORTED_DTYPES = new Set(["I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"]);
/** The reference implementation refuses headers above 100 MB; so do we (and index.json files). */
const MAX_HEADER_BYTES = 100_000_000;
/** Bytes per positioned read while decoding; bounds the scratch buffer. */
const CHUNK_BYTES = 1 << 24;

export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
}

export interface ReadOptions {
  /**
   * The dtype of the returned tensor. Defaults: BF16/F16/F32 -> float32,
   * F64 -> float64, I64/I32/U8 -> int32, BOOL -> bool. Floats convert to any
   * float dtype (BF16 read as bfloat16 keeps the bits as they are); integers
   * and booleans to int32, float32 or float64.
   */
  dtype?: DType;
  /** The backend the tensor is made on (default: the current one); a resumed run puts it where its parameters live. */
  device?: string;
}

/** What a single file and a sharded checkpoint both offer. */
export interface TensorSource {
  /** Tensor names, in the order their bytes appear on disk. */
  readonly names: readonly string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  read(name: string, opts?: ReadOptions): Promise<Tensor>;
  close(): Promise<void>;
}

interface Entry extends TensorInfo {
  name: string;
  size: number;
  begin: number;
  end: number;
}

export class SafetensorsFile implements TensorSource {
  readonly names: readonly string[];
  /** Total bytes read from disk so far, header included (for tests and diagnostics). */
  bytesRead = 0;
  private closed = false;

  /** @internal use openSafetensors() */
  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly entries: ReadonlyMap<string, Entry>,
    /** The header's `__metadata__` strings ({} when absent). */
    readonly metadata: Readonly<Record<string, string>>,
    /** Byte offset of the data section: 8 + header length. */
    private readonly dataStart: number,
    headerBytes: number,
  ) {
    this.names = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end).map((e) => e.name);
    this.bytesRead = headerBytes;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: e.shape.slice() };
  }

  async read(name: string, opts: ReadOptions = {}): Promise<Tensor> {
    if (this.closed) throw new SafetensorsError(`${this.path}: read("${name}") after close()`);
    const e = this.entry(name);
    const target = opts.dtype ?? defaultDType(e.dtype);
    checkConversion(e, target, this.path);
    const out = allocArray(target, e.size);
    const width = ELEMENT_BYTES[e.dtype];
    const where = `${this.path}: tensor "${name}"`;
    if (isBitCopy(e.dtype, target)) {
      await this.readAt(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), this.dataStart + e.begin, where);
    } else {
      const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / width));
      const scratch = new Uint8Array(Math.min(e.size, perChunk) * width);
      for (let start = 0; start < e.size; start += perChunk) {
        const count = Math.min(perChunk, e.size - start);
        const bytes = scratch.subarray(0, count * width);
        await this.readAt(bytes, this.dataStart + e.begin + start * width, where);
        decodeInto(e.dtype, bytes, out, start, target, where);
      }
    }
    return fromStorage(out, e.shape, target, opts.device);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(`${this.path}: no tensor named "${name}" (the file has ${this.entries.size} tensors)`);
    return e;
  }

  private async readAt(dest: Uint8Array, position: number, where: string): Promise<void> {
    await readExact(this.handle, dest, position, where);
    this.bytesRead += dest.byteLength;
  }
}

/** Fill `dest` from `position`, looping over short reads; EOF is an error. */
async function readExact(handle: FileHandle, dest: Uint8Array, position: number, where: string): Promise<void> {
  let done = 0;
  while (done < dest.byteLength) {
    const want = Math.min(dest.byteLength - done, 1 << 30);
    const { bytesRead } = await handle.read(dest, done, want, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(
        `${where}: file ends at byte ${position + done}, before the ${dest.byteLength} bytes expected from byte ${position} (truncated while open?)`,
      );
    }
    done += bytesRead;
  }
}

function defaultDType(d: SafetensorsDType): DType {
  switch (d) {
    case "BF16":
    case "F16":
    case "F32":
      return "float32";
    case "F64":
      return "float64";
    case "I64":
    case "I32":
    case "U8":
      return "int32";
    case "BOOL":
      return "bool";
  }
}

function checkConversion(e: Entry, target: DType, path: string): void {
  const fromFloat = e.dtype === "BF16" || e.dtype === "F16" || e.dtype === "F32" || e.dtype === "F64";
  const ok = fromFloat
    ? isFloat(target)
    : target === "int32" || target === "float32" || target === "float64" || (e.dtype === "BOOL" && target === "bool");
  if (!ok) throw new DTypeError(`${path}: tensor "${e.name}" is ${e.dtype} and cannot be read as ${target}`);
}

/** Stored bytes that are already the target's storage format (BOOL is normalised to 0/1 instead). */
function isBitCopy(d: SafetensorsDType, target: DType): boolean {
  return (
    (d === "BF16" && target === "bfloat16") ||
    (d === "F16" && target === "float16") ||
    (d === "F32" && target === "float32") ||
    (d === "F64" && target === "float64") ||
    (d === "I32" && target === "int32")
  );
}

/** Decode `bytes` (whole elements of `d`) into `out[offset...]` in `target`'s storage format. */
function decodeInto(d: SafetensorsDType, bytes: Uint8Array, out: StorageArray, offset: number, target: DType, where: string): void {
  const buf = bytes.buffer,
    at = bytes.byteOffset,
    n = bytes.byteLength / ELEMENT_BYTES[d];
  if (d === "BF16" && target === "float32") {
    // bfloat16 is the top half of a float32: widen the bits, no rounding involved.
    const bits = new Uint16Array(buf, at, n);
    const dst = new Uint32Array(out.buffer, out.byteOffset + offset * 4, n);
    for (let i = 0; i < n; i++) dst[i] = bits[i]! << 16;
    return;
  }
  let values: ArrayLike<number>;
  switch (d) {
    case "BF16":
      values = Float32Array.from(new Uint16Array(buf, at, n), fromBFloat16Bits);
      break;
    case "F16":
      values = Float32Array.from(new Uint16Array(buf, at, n), fromFloat16Bits);
      break;
    case "F32":
      values = new Float32Array(buf, at, n);
      break;
    case "F64":
      values = new Float64Array(buf, at, n);
      break;
    case "I32":
      values = new Int32Array(buf, at, n);
      break;
    case "U8":
      values = new Uint8Array(buf, at, n);
      break;
    case "BOOL":
      values = Uint8Array.from(new Uint8Array(buf, at, n), (b) => (b ? 1 : 0));
      break;
    case "I64":
      values = int64Values(new BigInt64Array(buf, at, n), target === "int32", offset, where);
      break;
  }
  encodeInto(values, out, offset, target);
}

function int64Values(src: BigInt64Array, toInt32: boolean, offset: number, where: string): Float64Array {
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (toInt32 && (v < -2147483648n || v > 2147483647n)) {
      throw new SafetensorsError(`${where}: I64 value ${v} at element ${offset + i} does not fit int32; read it with { dtype: "float64" }`);
    }
    out[i] = Number(v);
  }
  return out;
}

function encodeInto(values: ArrayLike<number>, out: StorageArray, offset: number, target: DType): void {
  const n = values.length;
  if (target === "bfloat16") for (let i = 0; i < n; i++) out[offset + i] = toBFloat16Bits(values[i]!);
  else if (target === "float16") for (let i = 0; i < n; i++) out[offset + i] = toFloat16Bits(values[i]!);
  else if (target === "bool") for (let i = 0; i < n; i++) out[offset + i] = values[i] ? 1 : 0;
  else (out as Float64Array).set(values, offset);
}

// --- opening and validating ------------------------------------------------

/** Open a safetensors file, reading and validating only its header. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const handle = await openRegular(path, (why) => new SafetensorsError(`${path}: ${why}`));
  try {
    const { entries, metadata, dataStart } = await readHeader(path, handle);
    return new SafetensorsFile(path, handle, entries, metadata, dataStart, dataStart);
  } catch (e) {
    await handle.close();
    throw e;
  }
}

async function readHeader(path: string, handle: FileHandle) {
  const fail = (msg: string) => new SafetensorsError(`${path}: ${msg}`);
  const fileSize = (await handle.stat()).size;
  if (fileSize < 8) throw fail(`file is ${fileSize} bytes, too short for the 8-byte header length (truncated, or not safetensors)`);
  const lenBytes = new Uint8Array(8);
  await readExact(handle, lenBytes, 0, path);
  const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES))
    throw fail(`header length ${headerLen} is over the format's ${MAX_HEADER_BYTES}-byte limit (not safetensors?)`);
  const n = Number(headerLen);
  if (8 + n > fileSize) throw fail(`header length ${n} runs past the end of the ${fileSize}-byte file (truncated?)`);
  const headerBytes = new Uint8Array(n);
  await readExact(handle, headerBytes, 8, path);
  const headerFail = (why: string) => fail(`header is ${why}`);
  const header = parseJson(decodeUtf8(headerBytes, headerFail), headerFail);
  const dataStart = 8 + n;
  const { entries, metadata } = validateHeader(header, fileSize - dataStart, fail);
  return { entries, metadata, dataStart };
}

function validateHeader(header: unknown, dataSize: number, fail: (msg: string) => SafetensorsError) {
  if (!isPlainObject(header)) throw fail(`header must be a JSON object, got ${describe(header)}`);
  let metadata: Record<string, string> = {};
  const entries = new Map<string, Entry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = validateMetadata(raw, fail);
      continue;
    }
    entries.set(name, validateEntry(name, raw, dataSize, fail));
  }
  // The tensors must tile the data section exactly, as the reference implementation requires.
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0,
    prev = "";
  for (const e of sorted) {
    if (e.begin < cursor) throw fail(`tensor "${e.name}" bytes [${e.begin}, ${e.end}) overlap tensor "${prev}" (ends at ${cursor})`);
    if (e.begin > cursor) throw fail(`gap of ${e.begin - cursor} bytes before tensor "${e.name}" at data offset ${cursor}`);
    cursor = e.end;
    prev = e.name;
  }
  if (cursor !== dataSize) throw fail(`${dataSize - cursor} bytes after the last tensor are not described by the header`);
  return { entries, metadata };
}

function validateMetadata(raw: unknown, fail: (msg: string) => SafetensorsError): Record<string, string> {
  if (!isPlainObject(raw)) throw fail(`"__metadata__" must be an object of strings, got ${describe(raw)}`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") throw fail(`"__metadata__"."${k}" must be a string, got ${describe(v)}`);
  }
  return { ...(raw as Record<string, string>) };
}

function validateEntry(name: string, raw: unknown, dataSize: number, fail: (msg: string) => SafetensorsError): Entry {
  const at = `tensor "${name}"`;
  if (!isPlainObject(raw)) throw fail(`${at}: expected { dtype, shape, data_offsets }, got ${describe(raw)}`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string" || !Object.hasOwn(ELEMENT_BYTES, dtype)) {
    const supported = Object.keys(ELEMENT_BYTES).join(", ");
    if (typeof dtype === "string" && UNSUPPORTED_DTYPES.has(dtype))
      throw fail(`${at}: dtype ${dtype} is not supported here (supported: ${supported})`);
    throw fail(`${at}: unknown dtype ${describe(dtype)} (supported: ${supported})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw fail(`${at}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail(`${at}: data_offsets must be [begin, end] with non-negative integers, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`${at}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize) throw fail(`${at}: data_offsets [${begin}, ${end}] run past the ${dataSize}-byte data section (truncated?)`);
  const d = dtype as SafetensorsDType;
  let size = 1;
  for (const dim of shape as number[]) size *= dim;
  if (!Number.isSafeInteger(size * ELEMENT_BYTES[d]) || size * ELEMENT_BYTES[d] !== end - begin) {
    throw fail(
      `${at}: shape ${fmt(shape as number[])} of ${d} needs ${size * ELEMENT_BYTES[d]} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype: d, shape: (shape as number[]).slice(), size, begin, end };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// --- checkpoints: one file or shards ----------------------------------------

const SINGLE_FILE = "model.safetensors";
const INDEX_FILE = "model.safetensors.index.json";

/** A model directory's tensors, whether in model.safetensors or in shards. */
export class Checkpoint implements TensorSource {
  readonly names: readonly string[];

  /** @internal use openCheckpoint() */
  constructor(
    readonly dir: string,
    /** The open files (one, or the shards in the order the index names them). */
    readonly files: readonly SafetensorsFile[],
    private readonly fileOf: ReadonlyMap<string, SafetensorsFile>,
  ) {
    this.names = [...fileOf.keys()];
  }

  has(name: string): boolean {
    return this.fileOf.has(name);
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  async read(name: string, opts?: ReadOptions): Promise<Tensor> {
    return this.file(name).read(name, opts);
  }

  /** Bytes read from disk over all files. */
  get bytesRead(): number {
    return this.files.reduce((s, f) => s + f.bytesRead, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  private file(name: string): SafetensorsFile {
    const f = this.fileOf.get(name);
    if (!f) throw new SafetensorsError(`${this.dir}: the checkpoint has no tensor named "${name}"`);
    return f;
  }
}

/**
 * Open a model directory: `model.safetensors`, or the shards listed in
 * `model.safetensors.index.json` (its `weight_map` maps each tensor name to
 * a shard file). Every shard's header is validated at open, and every tensor
 * the index names must be in its shard.
 */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const st = await stat(dir).catch(() => null);
  if (!st) throw new SafetensorsError(`${dir}: no such model directory`);
  if (!st.isDirectory()) throw new SafetensorsError(`${dir}: is a file, not a model directory`);
  const present = new Set(await readdir(dir));
  if (present.has(INDEX_FILE)) return openSharded(dir, join(dir, INDEX_FILE));
  if (present.has(SINGLE_FILE)) {
    const file = await openSafetensors(join(dir, SINGLE_FILE));
    return new Checkpoint(dir, [file], new Map(file.names.map((n) => [n, file])));
  }
  const hint = present.has("pytorch_model.bin")
    ? " It has pytorch_model.bin: only safetensors checkpoints are read (convert it with safetensors' convert script)."
    : present.size
      ? ` It holds: ${[...present].sort().slice(0, 10).join(", ")}${present.size > 10 ? ", ..." : ""}.`
      : " It is empty.";
  throw new SafetensorsError(`${dir}: not a model directory: neither ${SINGLE_FILE} nor ${INDEX_FILE} is there.${hint}`);
}

async function openSharded(dir: string, indexPath: string): Promise<Checkpoint> {
  const fail = (why: string) => new SafetensorsError(`${indexPath}: ${why}`);
  const index = parseJson(decodeUtf8(await readRegularFile(indexPath, { maxBytes: MAX_HEADER_BYTES }, fail), fail), fail);
  const weightMap = isPlainObject(index) ? index["weight_map"] : undefined;
  if (!isPlainObject(weightMap))
    throw new SafetensorsError(`${indexPath}: expected a "weight_map" object mapping tensor names to shard files`);
  const shardNames: string[] = [];
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard === "" || shard !== basename(shard)) {
      throw new SafetensorsError(
        `${indexPath}: weight_map["${name}"] must be a shard file name in the same directory, got ${describe(shard)}`,
      );
    }
    if (!shardNames.includes(shard)) shardNames.push(shard);
  }
  const files: SafetensorsFile[] = [];
  try {
    for (const shard of shardNames) files.push(await openSafetensors(join(dir, shard)));
    const byShard = new Map(shardNames.map((s, i) => [s, files[i]!]));
    const fileOf = new Map<string, SafetensorsFile>();
    const missing: string[] = [];
    for (const [name, shard] of Object.entries(weightMap as Record<string, string>)) {
      const file = byShard.get(shard)!;
      if (file.has(name)) fileOf.set(name, file);
      else missing.push(`"${name}" (in ${shard})`);
    }
    if (missing.length) {
      throw new SafetensorsError(
        `${indexPath}: ${missing.length} tensors listed in weight_map are not in their shard: ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`,
      );
    }
    return new Checkpoint(dir, files, fileOf);
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
}

// --- writing -------------------------------------------------------------

export interface WriteOptions {
  /** Store every floating tensor in this dtype (rounded to nearest even); others keep theirs. */
  dtype?: "F32" | "BF16" | "F16";
}

const NATIVE_DTYPE: Record<DType, SafetensorsDType> = {
  float32: "F32",
  float64: "F64",
  bfloat16: "BF16",
  float16: "F16",
  int32: "I32",
  bool: "BOOL",
};
const STORAGE_OF: Partial<Record<SafetensorsDType, DType>> = {
  F32: "float32",
  F64: "float64",
  BF16: "bfloat16",
  F16: "float16",
  I32: "int32",
  BOOL: "bool",
};

/**
 * Write `tensors` to `path` atomically: the bytes go to a temporary file in
 * the same directory, which is fsynced and then renamed over `path`, so a
 * crash leaves either the old file or the new one. As in the reference
 * implementation, tensors are laid out by element width (widest first) and
 * then by name, and the header is padded with spaces to a multiple of 8
 * bytes, so every tensor starts aligned to its element size.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
  opts: WriteOptions = {},
): Promise<void> {
  const plan = Object.entries(tensors).map(([name, t]) => {
    if (name === "" || name === "__metadata__") throw new SafetensorsError(`${path}: invalid tensor name ${JSON.stringify(name)}`);
    const dtype = opts.dtype && isFloat(t.dtype) ? opts.dtype : NATIVE_DTYPE[t.dtype];
    return { name, tensor: t, dtype, bytes: t.size * ELEMENT_BYTES[dtype] };
  });
  plan.sort((a, b) => ELEMENT_BYTES[b.dtype] - ELEMENT_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // A null prototype keeps a tensor named "__proto__" an ordinary key.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new SafetensorsError(`${path}: metadata "${k}" must be a string, got ${describe(v)}`);
    }
    header["__metadata__"] = metadata;
  }
  let offset = 0;
  for (const p of plan) {
    header[p.name] = { dtype: p.dtype, shape: [...p.tensor.shape], data_offsets: [offset, offset + p.bytes] };
    offset += p.bytes;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));

  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "wx");
  try {
    await handle.write(prefix);
    await handle.write(padded);
    for (const p of plan) await handle.write(await tensorBytes(p.tensor, p.dtype));
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (e) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dirname(path));
}

/** One tensor's bytes in `dtype`; a tensor already stored in that format is copied bit for bit. */
async function tensorBytes(t: Tensor, dtype: SafetensorsDType): Promise<Uint8Array> {
  const c = t.concrete();
  const raw = await c._backend.read(c._buf, c.dtype, c.size);
  const storage = STORAGE_OF[dtype]!;
  const encoded = storage === c.dtype ? raw : fromNumbers(toNumbers(raw, c.dtype), storage);
  return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}

/** Make the rename durable; directories cannot be fsynced on every platform, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const h = await open(dir, "r");
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* best effort */
  }
}
