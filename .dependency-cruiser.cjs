/**
 * The import-graph rules of shared/docs/DESIGN.md, checked by `npm run lint:imports`
 * and by test/architecture/layers.test.ts: no cycles (type-only imports
 * included), and each layer of src/ imports only the layers below it.
 */
const LAYERS = [
  ["tensor"],
  ["prims"],
  ["backends"],
  ["ir"],
  ["ops"],
  ["autograd"],
  ["nn", "optim", "objectives", "io"],
  ["models"],
  ["data"],
  ["train"],
  ["report"],
  ["demo"],
  ["cli"],
];

const folders = (names) => `^src/(${names.join("|")})/`;

/** Layer i may not import layer j > i, nor a sibling folder of its own layer. */
const layerRules = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  const rules = [];
  if (above.length) {
    rules.push({
      name: `${layer.join("-")}-imports-upward`,
      comment: `${layer.join(", ")} may import only the layers below: ${LAYERS.slice(0, i).flat().join(", ") || "nothing"}`,
      severity: "error",
      from: { path: folders(layer) },
      to: { path: `${folders(above)}|^src/index\\.ts$` },
    });
  }
  for (const name of layer.filter(() => layer.length > 1)) {
    rules.push({
      name: `${name}-imports-a-sibling-layer`,
      comment: `${name} may not import ${layer.filter((n) => n !== name).join(", ")} (same layer)`,
      severity: "error",
      from: { path: folders([name]) },
      to: { path: folders(layer.filter((n) => n !== name)) },
    });
  }
  return rules;
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "a cycle means a piece is in the wrong layer",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(node_modules|dist)" },
  },
};
