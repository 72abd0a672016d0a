/** makeGraph: golden printouts, the backward pass, constants, and host reads under tracing. */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";

const f32 = (shape: number[]) => ag.zeros(shape);

describe("makeGraph", () => {
  it("prints a small function like a jaxpr, scalar constants inline", () => {
    const g = ag.makeGraph((a: ag.Tensor, b: ag.Tensor) => ag.tanh(ag.add(ag.mul(a, b), 1)))(f32([3]), f32([3]));
    expect(String(g)).toBe(
      [
        "{ lambda ; a:f32[3] b:f32[3] . let",
        "    c:f32[3] = mul a b",
        "    d:f32[3] = add c 1.0:f32",
        "    e:f32[3] = tanh d",
        "  in (e) }",
      ].join("\n"),
    );
  });

  it("records params, broadcasting shapes, pytree inputs and closed-over constants", () => {
    const w = ag.ones([2, 4]);
    const g = ag.makeGraph((p: { x: ag.Tensor; scale: number }) => ag.sum(ag.mul(ag.matmul(p.x, w), p.scale), 1))({
      x: f32([3, 2]),
      scale: 2,
    });
    expect(String(g)).toBe(
      [
        "{ lambda a:f32[2,4] ; b:f32[3,2] . let",
        "    c:f32[3,4] = matmul [transposeA=false transposeB=false] b a",
        "    d:f32[3,4] = mul c 2.0:f32",
        "    e:f32[3] = sum [axes=[1] keepdims=false] d",
        "  in (e) }",
      ].join("\n"),
    );
    expect(g.consts[0]!.value).toBe(w);
    expect(g.inTree).toMatchObject({ kind: "array" });
  });

  it("shows the backward pass of grad(f), constants folded", () => {
    // the cotangent seed (ones) is a constant, so its broadcast is computed once, at trace time
    const g = ag.makeGraph(ag.grad((x: ag.Tensor) => ag.sum(ag.exp(x))))(f32([2]));
    expect(String(g)).toBe(
      [
        "{ lambda a:f32[2] ; b:f32[2] . let",
        "    c:f32[2] = exp b",
        "    d:f32[] = sum [axes=[0] keepdims=false] c",
        "    e:f32[2] = mul a c",
        "  in (e) }",
      ].join("\n"),
    );
    expect(Array.from(g.consts[0]!.value.dataSync())).toEqual([1, 1]);
  });

  it("refuses a host read of a traced value, naming the producing op", () => {
    expect(() => ag.makeGraph((x: ag.Tensor) => ag.tensor(ag.exp(x).item()))(f32([1]))).toThrow(
      /host read .* of the output of exp \[1\] float32: the value is abstract under makeGraph/,
    );
  });
});

describe("no silent wrong numbers", () => {
  it("a host read inside grad throws instead of giving a zero gradient", () => {
    expect(() => ag.grad((x: ag.Tensor) => ag.mul(ag.tensor(x.item() ** 2), 1))(ag.tensor(3))).toThrow(
      /dataSync\(\) of a value traced by grad\/vjp\/jvp .*stopGradient/,
    );
    // stopGradient reads the value as a constant, on purpose
    expect(
      ag
        .grad((x: ag.Tensor) => ag.mul(x, ag.stopGradient(x).item()))(ag.tensor(3))
        .item(),
    ).toBe(3);
  });

  it("promotes dtypes as JAX does: weak JS numbers, the lattice for tensors", () => {
    const i = ag.tensor([3], { dtype: "int32" });
    expect([ag.mul(i, 0.5).dtype, ag.mul(i, 0.5).item()]).toEqual(["float32", 1.5]);
    expect(Array.from(ag.add(ag.tensor([1, 2], { dtype: "int32" }), 2.5).dataSync())).toEqual([3.5, 4.5]);
    expect(ag.mul(i, 2).dtype).toBe("int32");
    expect(ag.add(ag.tensor([true]), 1).dtype).toBe("int32");
    expect(ag.mul(ag.ones([1], { dtype: "float64" }), 0.5).dtype).toBe("float64");
    expect(ag.add(i, ag.ones([1])).dtype).toBe("float32");
    expect(ag.add(ag.ones([1], { dtype: "float16" }), ag.ones([1], { dtype: "bfloat16" })).dtype).toBe("float32");
    expect(ag.add(ag.ones([1]), ag.ones([1], { dtype: "float64" })).dtype).toBe("float64");
  });

  it("implicit scalar operands made outside a scope leak nothing", () => {
    const x = ag.ones([4]);
    ag.mul(x, 0.25).dispose(); // warm the constant
    const before = ag.memoryStats().cpu!.tensors;
    for (let i = 0; i < 50; i++) ag.mul(x, 0.25).dispose();
    expect(ag.memoryStats().cpu!.tensors).toBe(before);
  });
});
