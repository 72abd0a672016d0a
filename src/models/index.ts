/** Model families built on anchorgrad's ops and nn layers. */
export * as internvl from "./internvl/index.js";
