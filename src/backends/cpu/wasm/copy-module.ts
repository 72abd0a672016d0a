/**
 * The strided copy behind transpose, slice, concat, pad and broadcast
 * (../strided.ts) as WebAssembly, for elements of 4 bytes (float32, int32).
 *
 * Export: copy(ws, dst, src, n2, n1, n0, d2, s2, d1, s1, d0, s0) copies an
 * n2 × n1 × n0 block: element (a, b, c) goes from src + a·s2 + b·s1 + c·s0
 * to dst + a·d2 + b·d1 + c·d0 (strides in bytes). A row that is contiguous
 * on both sides (s0 = d0 = 4) moves four elements per instruction; any
 * other moves one at a time. Elements move as bits (i32 and v128 loads and
 * stores), so every value, a NaN's payload too, arrives unchanged.
 */
import { ModuleBuilder, type Local } from "./encoder.js";

export function buildCopyModule(memory: { initialPages: number; maxPages: number }): { bytes: Uint8Array; exports: string[] } {
  const m = new ModuleBuilder();
  const f = m.fn("copy", Array<"i32">(12).fill("i32"));
  const [, dst, src, n2, n1, n0, d2, s2, d1, s1, d0, s0] = f.params as Local[] as [Local, ...Local[]] & Local[];
  const [a, b, c, pd, ps, rd, rs, vec] = Array.from({ length: 8 }, () => f.local("i32"));
  // vec: the elements of a row moved four at a time (all but the last n0 mod 4), 0 when a row is strided
  f.get(n0!).i32(-4).and().i32(0).get(s0!).i32(4).eq().get(d0!).i32(4).eq().and().select().set(vec!);
  f.forRange(a!, 0, n2!, 1, () => {
    f.get(dst!).get(a!).get(d2!).mul().add().set(rd!);
    f.get(src!).get(a!).get(s2!).mul().add().set(rs!);
    f.forRange(b!, 0, n1!, 1, () => {
      f.get(rd!).set(pd!).get(rs!).set(ps!);
      f.forRange(c!, 0, vec!, 4, () => {
        f.get(pd!).get(ps!).v128Load().v128Store();
        f.inc(pd!, 16).inc(ps!, 16);
      });
      f.forRange(c!, vec!, n0!, 1, () => {
        f.get(pd!).get(ps!).i32Load().i32Store();
        f.inc(pd!, d0!).inc(ps!, s0!);
      });
      f.inc(rd!, d1!).inc(rs!, s1!);
    });
  });
  return { bytes: m.encode(memory), exports: ["copy"] };
}
