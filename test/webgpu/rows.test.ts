/**
 * The fused row kernels on webgpu against float64 on the cpu: both forms
 * (an invocation per row, a workgroup per row) whatever the adapter, at row
 * lengths 1, 3, 17, 1000, 1023, 8192, on rows of ±1e4, rows far from 0 and
 * rows with -inf (all -inf included), plus the chunked logsumexp of a few
 * long rows, gradients, and the kernels this work retuned (scatterAdd with
 * few indices, matmul narrowed to the output's width).
 */
import { afterEach, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { setRowForm, type RowForm } from "../../src/backends/webgpu/kernels/rows.js";
import { compareRows, LENGTHS, ROW_OPS, rowData, type RowOp, type RowData } from "../core/rows-cases.js";
import { describeWebGPU, expectClose } from "./setup.js";

/**
 * How far past the cpu's float32 tolerance (rows-cases.ts) a WGSL result may
 * be: WGSL allows exp 3 + 2|x| ulp and log 3 ulp, where the cpu kernels
 * take about 2; at |x − max| up to 88 that is up to 179 ulp.
 */
const WGSL_SLACK = 4;

/** The worst error/tolerance ratio of `op` on webgpu, against float64 on the cpu. */
async function worstRatio(op: RowOp, kind: RowData, rows: number, cols: number): Promise<number> {
  return ag.scope(async () => {
    const raw = rowData(kind, rows, cols, 11 + cols);
    const aux = ag.cast(ag.randomNormal([cols], { seed: 3, device: "cpu" }), "float32");
    let x32 = ag.tensor(raw, { shape: [rows, cols], dtype: "float32", device: "cpu" });
    if (op.prepare) x32 = op.prepare(x32); // on the cpu, so both sides start from the same values
    const want = op.f(ag.cast(x32, "float64"), ag.cast(aux, "float64")).dataSync();
    const xg = ag.tensor(x32.dataSync(), { shape: [rows, cols], device: "webgpu" });
    const got = await op.f(xg, ag.tensor(aux.dataSync(), { shape: [cols], device: "webgpu" })).data();
    return compareRows(op, got, want, x32.dataSync());
  });
}

describeWebGPU("webgpu fused row kernels", () => {
  afterEach(() => setRowForm(null));

  for (const form of ["thread", "group"] as RowForm[]) {
    it(`${form} form: every op within tolerance of float64 at lengths ${LENGTHS.join(", ")}`, async () => {
      setRowForm(form);
      const bad: string[] = [];
      for (const op of ROW_OPS) {
        for (const kind of op.data) {
          for (const cols of LENGTHS) {
            const ratio = await worstRatio(op, kind, 5, cols);
            if (!(ratio <= WGSL_SLACK)) bad.push(`${op.name} ${kind} [5, ${cols}]: ${ratio.toFixed(2)}`);
          }
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it("logsumexp of a few long rows (chunked, two passes) and many short ones, in the default form", async () => {
    const lse = ROW_OPS.find((o) => o.name === "logsumexp")!;
    for (const [rows, cols] of [
      [3, 20000],
      [2, 151655],
      [9000, 40],
      [2048, 256],
    ] as const) {
      for (const kind of ["normal", "masked"] as const)
        expect(await worstRatio(lse, kind, rows, cols), `${kind} [${rows}, ${cols}]`).toBeLessThanOrEqual(WGSL_SLACK);
    }
  });

  it("gradients through each op match the cpu (float32)", async () => {
    const fs: [string, (x: ag.Tensor, w: ag.Tensor) => ag.Tensor][] = [
      ["logsumexp", (x) => ag.logsumexp(x)],
      ["softmax", (x) => ag.softmax(x)],
      ["logSoftmax", (x) => ag.logSoftmax(x)],
      ["layerNorm", (x, w) => ag.layerNorm(x, w, w)],
      ["rmsNorm", (x, w) => ag.rmsNorm(x, w)],
    ];
    for (const [name, f] of fs) {
      await ag.scope(async () => {
        const cpu = { device: "cpu" },
          x = ag.randomNormal([3, 1023], { seed: 5, ...cpu }),
          w = ag.randomNormal([1023], { seed: 6, ...cpu });
        const g = ag.randomNormal(f(x, w).shape, { seed: 7, ...cpu });
        const loss = (args: ag.Tensor[]) => ag.sum(ag.mul(f(args[0]!, args[1]!), args[2]!));
        const ref = ag.grad(loss)([x, w, g]);
        const onGpu = (t: ag.Tensor) => ag.tensor(t.dataSync(), { shape: t.shape, device: "webgpu" });
        const got = ag.grad(loss)([onGpu(x), onGpu(w), onGpu(g)]);
        for (let k = 0; k < 2; k++) expectClose(await got[k]!.data(), ref[k]!.dataSync(), `${name}: gradient of input ${k}`);
      });
    }
  });

  it("scatterAdd agrees on both sides of the few-indices threshold, repeats included", async () => {
    for (const q of [31, 32, 33, 200]) {
      await ag.scope(async () => {
        const idx = Array.from({ length: q }, (_, i) => (i * 7) % 5);
        const u = ag.randomNormal([2, q, 3], { seed: q, device: "cpu" });
        const ref = ag.scatterAdd(u, ag.tensor(idx, { dtype: "int32", device: "cpu" }), 1, [2, 6, 3]);
        const got = ag.scatterAdd(
          ag.tensor(u.dataSync(), { shape: u.shape, device: "webgpu" }),
          ag.tensor(idx, { dtype: "int32", device: "webgpu" }),
          1,
          [2, 6, 3],
        );
        expectClose(await got.data(), ref.dataSync(), `scatterAdd of ${q} indices`);
      });
    }
  });

  it("matmul at output widths below, at and past a workgroup's columns", async () => {
    for (const N of [1, 3, 4, 60, 64, 65, 100, 256]) {
      await ag.scope(async () => {
        const a = ag.randomNormal([2, 37, 64], { seed: N, device: "cpu" }),
          b = ag.randomNormal([64, N], { seed: N + 1, device: "cpu" });
        const onGpu = (t: ag.Tensor) => ag.tensor(t.dataSync(), { shape: t.shape, device: "webgpu" });
        expectClose(await ag.matmul(onGpu(a), onGpu(b)).data(), ag.matmul(a, b).dataSync(), `matmul [2, 37, 64] @ [64, ${N}]`);
      });
    }
  });
});
