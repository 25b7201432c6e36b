// The array type every JS twin runs over: the backend's float32 heap view, or a Float64Array when
// the gradient check runs the same kernels in double precision. Twins take element indices into it.
export type Floats = Float32Array | Float64Array;
