/**
 * A small WebAssembly binary writer: just what the CPU kernels need (i32
 * arithmetic, structured control flow, f32/f64 scalar and 128-bit SIMD
 * loads, stores and arithmetic, one imported shared memory, exported
 * functions). Kernels are written as TypeScript that calls these emitters,
 * so a kernel's shape (register tile, unrolling) is a parameter of the code
 * that writes it, and no toolchain or prebuilt binary is involved.
 *
 * Opcodes follow the WebAssembly core spec 2.0 with the fixed-width SIMD
 * proposal (all shipped without flags in Node 20).
 */

export type ValType = "i32" | "f32" | "f64" | "v128";
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
function uleb(out: number[], v: number): void {
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

/** Signed LEB128 of a 32-bit integer. */
function sleb(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.push(...bytes);
}

/** A local variable or parameter slot. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** Loads and stores take a byte offset folded into the instruction. */
const SIMD = 0xfd;

/** SIMD opcodes (after the 0xfd prefix) used by `simd(name)`. */
export const SIMD_OPS = {
  "i32x4.splat": 0x11,
  "f32x4.splat": 0x13,
  "f64x2.splat": 0x14,
  "v128.bitselect": 0x52,
  "i32x4.eq": 0x37,
  "f32x4.demote_f64x2_zero": 0x5e,
  "f64x2.promote_low_f32x4": 0x5f,
  "i16x8.extend_low_i8x16_u": 0x89,
  "i32x4.extend_low_i16x8_u": 0xa9,
  "i64x2.extend_low_i32x4_s": 0xc7,
  "i64x2.shl": 0xcb,
  "i64x2.add": 0xce,
  "f64x2.nearest": 0x94,
  "f32x4.nearest": 0x6a,
  "i32x4.add": 0xae,
  "i32x4.shl": 0xab,
  "i32x4.trunc_sat_f32x4_s": 0xf8,
  "f32x4.pmin": 0xea,
  "f32x4.pmax": 0xeb,
  "f32x4.eq": 0x41,
  "f32x4.ne": 0x42,
  "f32x4.lt": 0x43,
  "f32x4.gt": 0x44,
  "f32x4.le": 0x45,
  "f32x4.ge": 0x46,
  "f32x4.abs": 0xe0,
  "f32x4.neg": 0xe1,
  "f32x4.sqrt": 0xe3,
  "f32x4.add": 0xe4,
  "f32x4.sub": 0xe5,
  "f32x4.mul": 0xe6,
  "f32x4.div": 0xe7,
  "f32x4.min": 0xe8,
  "f32x4.max": 0xe9,
  "f64x2.add": 0xf0,
  "f64x2.sub": 0xf1,
  "f64x2.mul": 0xf2,
  "f64x2.min": 0xf4,
  "f64x2.max": 0xf5,
  "f64x2.pmin": 0xf6,
  "f64x2.pmax": 0xf7,
  "i32x4.trunc_sat_f64x2_s_zero": 0xfc,
  "v128.and": 0x4e,
  "v128.or": 0x50,
  "f64x2.eq": 0x47,
  "f64x2.lt": 0x49,
  "f64x2.gt": 0x4a,
  "f64x2.ge": 0x4c,
  "f64x2.abs": 0xec,
  "f64x2.neg": 0xed,
  "f64x2.div": 0xf3,
  "i64x2.shr_u": 0xcd,
} as const;

/** Scalar opcodes used by `scalar(name)`. */
export const SCALAR_OPS = {
  "f32.abs": 0x8b,
  "f32.neg": 0x8c,
  "f32.sqrt": 0x91,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.min": 0x96,
  "f32.max": 0x97,
  "f64.sqrt": 0x9f,
  "f64.add": 0xa0,
  "f64.sub": 0xa1,
  "f64.mul": 0xa2,
  "f64.div": 0xa3,
  "f32.demote_f64": 0xb6,
  "f64.convert_i32_u": 0xb8,
  "f64.promote_f32": 0xbb,
  "f32.reinterpret_i32": 0xbe,
  "f32.eq": 0x5b,
} as const;

/**
 * The body of one function. Every method appends one instruction and
 * returns `this`, so straight-line code reads top to bottom; structured
 * blocks take a callback for their body.
 */
export class FunctionBuilder {
  readonly params: Local[];
  private readonly extra: Local[] = [];
  private readonly code: number[] = [];

  /** `index` is the function's position in the module (the target of `call`). */
  constructor(
    readonly exportName: string,
    paramTypes: readonly ValType[],
    readonly index: number,
  ) {
    this.params = paramTypes.map((type, i) => ({ index: i, type }));
  }

  local(type: ValType): Local {
    const l = { index: this.params.length + this.extra.length, type };
    this.extra.push(l);
    return l;
  }

  private op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  private simd_(opcode: number): this {
    this.code.push(SIMD);
    uleb(this.code, opcode);
    return this;
  }
  private memarg(alignLog2: number, offset: number): this {
    uleb(this.code, alignLog2);
    uleb(this.code, offset);
    return this;
  }

  get(l: Local): this {
    this.op(0x20);
    uleb(this.code, l.index);
    return this;
  }
  set(l: Local): this {
    this.op(0x21);
    uleb(this.code, l.index);
    return this;
  }
  tee(l: Local): this {
    this.op(0x22);
    uleb(this.code, l.index);
    return this;
  }

  i32(v: number): this {
    this.op(0x41);
    sleb(this.code, v);
    return this;
  }
  add(): this {
    return this.op(0x6a);
  }
  sub(): this {
    return this.op(0x6b);
  }
  mul(): this {
    return this.op(0x6c);
  }
  shl(): this {
    return this.op(0x74);
  }
  divU(): this {
    return this.op(0x6e);
  }
  remU(): this {
    return this.op(0x70);
  }
  and(): this {
    return this.op(0x71);
  }
  or(): this {
    return this.op(0x72);
  }
  eqz(): this {
    return this.op(0x45);
  }
  eq(): this {
    return this.op(0x46);
  }
  ne(): this {
    return this.op(0x47);
  }
  ltS(): this {
    return this.op(0x48);
  }
  leS(): this {
    return this.op(0x4c);
  }
  geS(): this {
    return this.op(0x4e);
  }
  /** [a, b, cond] -> cond ? a : b */
  select(): this {
    return this.op(0x1b);
  }

  /** local += delta (i32). */
  inc(l: Local, delta: number | Local): this {
    this.get(l);
    if (typeof delta === "number") this.i32(delta);
    else this.get(delta);
    return this.add().set(l);
  }

  /** min(a, b) of two i32 locals, signed, left on the stack. */
  minS(a: Local, b: Local): this {
    return this.get(a).get(b).get(a).get(b).ltS().select();
  }

  i32Load(offset = 0): this {
    this.op(0x28);
    return this.memarg(2, offset);
  }
  i32Store(offset = 0): this {
    this.op(0x36);
    return this.memarg(2, offset);
  }
  f32Load(offset = 0): this {
    this.op(0x2a);
    return this.memarg(2, offset);
  }
  f32Store(offset = 0): this {
    this.op(0x38);
    return this.memarg(2, offset);
  }
  f64Load(offset = 0): this {
    this.op(0x2b);
    return this.memarg(3, offset);
  }
  f64Store(offset = 0): this {
    this.op(0x39);
    return this.memarg(3, offset);
  }
  f32Const(v: number): this {
    this.op(0x43);
    this.code.push(...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }
  f64Const(v: number): this {
    this.op(0x44);
    this.code.push(...new Uint8Array(new Float64Array([v]).buffer));
    return this;
  }

  f32Add(): this {
    return this.op(0x92);
  }
  f64Add(): this {
    return this.op(0xa0);
  }
  simd(name: keyof typeof SIMD_OPS): this {
    return this.simd_(SIMD_OPS[name]);
  }
  scalar(name: keyof typeof SCALAR_OPS): this {
    return this.op(SCALAR_OPS[name]);
  }
  /** v128 constant from two float64 lanes. */
  f64x2Const(a: number, b = a): this {
    this.simd_(0x0c);
    this.code.push(...new Uint8Array(new Float64Array([a, b]).buffer));
    return this;
  }
  /** v128 constant of four float32 lanes. */
  f32x4Const(v: number): this {
    this.simd_(0x0c);
    this.code.push(...new Uint8Array(new Float32Array([v, v, v, v]).buffer));
    return this;
  }
  /** v128 constant of four int32 lanes. */
  i32x4Const(v: number): this {
    this.simd_(0x0c);
    this.code.push(...new Uint8Array(new Int32Array([v, v, v, v]).buffer));
    return this;
  }
  /** i8x16.shuffle of the two v128 on the stack by 16 lane indices (0-15 the first, 16-31 the second). */
  shuffle(lanes: readonly number[]): this {
    this.simd_(0x0d);
    this.code.push(...lanes);
    return this;
  }
  /** v128 constant from two int64 lanes (small integers). */
  i64x2Const(a: number, b = a): this {
    this.simd_(0x0c);
    this.code.push(...new Uint8Array(new BigInt64Array([BigInt(a), BigInt(b)]).buffer));
    return this;
  }
  /** 8 bytes into lane 0, zeros above. */
  load64Zero(offset = 0): this {
    this.simd_(0x5d);
    return this.memarg(3, offset);
  }
  /** 4 bytes into lane 0, zeros above. */
  load32Zero(offset = 0): this {
    this.simd_(0x5c);
    return this.memarg(2, offset);
  }
  /** Store the low 8 bytes (lane 0 of an i64x2). */
  store64Lane0(offset = 0): this {
    this.simd_(0x5b);
    this.memarg(3, offset);
    this.code.push(0);
    return this;
  }
  f32x4ExtractLane(lane: number): this {
    this.simd_(0x1f);
    this.code.push(lane);
    return this;
  }
  f64x2ExtractLane(lane: number): this {
    this.simd_(0x21);
    this.code.push(lane);
    return this;
  }
  load8U(offset = 0): this {
    this.op(0x2d);
    return this.memarg(0, offset);
  }
  v128Load(offset = 0): this {
    this.simd_(0x00);
    return this.memarg(0, offset);
  }
  v128Store(offset = 0): this {
    this.simd_(0x0b);
    return this.memarg(0, offset);
  }
  load32Splat(offset = 0): this {
    this.simd_(0x09);
    return this.memarg(2, offset);
  }
  load64Splat(offset = 0): this {
    this.simd_(0x0a);
    return this.memarg(3, offset);
  }
  v128Zero(): this {
    this.simd_(0x0c);
    this.code.push(...new Array<number>(16).fill(0));
    return this;
  }
  f32x4Add(): this {
    return this.simd("f32x4.add");
  }
  f32x4Mul(): this {
    return this.simd("f32x4.mul");
  }
  f64x2Add(): this {
    return this.simd("f64x2.add");
  }
  f64x2Mul(): this {
    return this.simd("f64x2.mul");
  }

  /** block ... end; `brIf(0)` inside jumps to its end. */
  block(body: () => void): this {
    this.op(0x02, 0x40);
    body();
    return this.op(0x0b);
  }
  /** loop ... end; `brIf(0)` inside jumps back to its start. */
  loop(body: () => void): this {
    this.op(0x03, 0x40);
    body();
    return this.op(0x0b);
  }
  /** if (pop) { then } else { otherwise } */
  ifElse(then: () => void, otherwise?: () => void): this {
    this.op(0x04, 0x40);
    then();
    if (otherwise) {
      this.op(0x05);
      otherwise();
    }
    return this.op(0x0b);
  }
  /** Call a function of the same module with its arguments on the stack. */
  call(fn: FunctionBuilder): this {
    this.op(0x10);
    uleb(this.code, fn.index);
    return this;
  }
  br(depth: number): this {
    this.op(0x0c);
    uleb(this.code, depth);
    return this;
  }
  brIf(depth: number): this {
    this.op(0x0d);
    uleb(this.code, depth);
    return this;
  }

  /**
   * for (i = start; i < end; i += step) body(), with `i` a fresh local; the
   * bounds are evaluated once per test, so they may be locals that change.
   * Branch depths inside the body are relative to the loop body.
   */
  forRange(i: Local, start: number | Local, end: Local | number, step: number | Local, body: () => void): this {
    const push = (v: number | Local) => (typeof v === "number" ? this.i32(v) : this.get(v));
    push(start);
    this.set(i);
    return this.block(() => {
      this.get(i);
      push(end);
      this.geS().brIf(0);
      this.loop(() => {
        body();
        this.inc(i, step);
        this.get(i);
        push(end);
        this.ltS().brIf(0);
      });
    });
  }

  /** The function body as a code-section entry. */
  encode(): number[] {
    const body: number[] = [];
    uleb(body, this.extra.length);
    for (const l of this.extra) {
      uleb(body, 1);
      body.push(VALTYPE[l.type]);
    }
    body.push(...this.code, 0x0b);
    const out: number[] = [];
    uleb(out, body.length);
    out.push(...body);
    return out;
  }

  signature(): number[] {
    const out = [0x60];
    uleb(out, this.params.length);
    for (const p of this.params) out.push(VALTYPE[p.type]);
    out.push(0x00); // no results: kernels write memory
    return out;
  }
}

function section(out: number[], id: number, content: number[]): void {
  out.push(id);
  uleb(out, content.length);
  out.push(...content);
}

/** Collects functions in order, so each knows its index for `call`. */
export class ModuleBuilder {
  readonly fns: FunctionBuilder[] = [];
  fn(exportName: string, params: readonly ValType[]): FunctionBuilder {
    const f = new FunctionBuilder(exportName, params, this.fns.length);
    this.fns.push(f);
    return f;
  }
  encode(memory: { initialPages: number; maxPages: number }): Uint8Array {
    return encodeModule(this.fns, memory);
  }
}

/**
 * A module importing one shared memory as env.memory (so every thread
 * instantiates the same module over the same bytes) and exporting `fns`.
 */
function encodeModule(fns: readonly FunctionBuilder[], memory: { initialPages: number; maxPages: number }): Uint8Array {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(types, fns.length);
  for (const f of fns) types.push(...f.signature());
  section(out, 1, types);
  const imports: number[] = [];
  uleb(imports, 1);
  name(imports, "env");
  name(imports, "memory");
  imports.push(0x02, 0x03); // memory, limits: shared with maximum
  uleb(imports, memory.initialPages);
  uleb(imports, memory.maxPages);
  section(out, 2, imports);
  const funcs: number[] = [];
  uleb(funcs, fns.length);
  fns.forEach((_, i) => uleb(funcs, i));
  section(out, 3, funcs);
  const exports: number[] = [];
  uleb(exports, fns.length);
  fns.forEach((f, i) => {
    name(exports, f.exportName);
    exports.push(0x00);
    uleb(exports, i);
  });
  section(out, 7, exports);
  const code: number[] = [];
  uleb(code, fns.length);
  for (const f of fns) code.push(...f.encode());
  section(out, 10, code);
  return new Uint8Array(out);
}
