/** Errors raised by anchorgrad itself; each names the op or input at fault. */
export class AnchorError extends Error {
  override name = "AnchorError";
}

/** Shapes that do not fit an op: the message names the op and the shapes. */
export class ShapeError extends AnchorError {
  override name = "ShapeError";
}

/** Dtypes that do not fit an op: the message names the op and the dtypes. */
export class DTypeError extends AnchorError {
  override name = "DTypeError";
}
