// Parameter types of the kernels beyond AssemblyScript's own: scripts/kernels.ts reads them from each
// kernel's signature to bind its twin (src/backend/js) and encode its tape records.

/** The byte offset of an int32 buffer (class labels, token indices): its twin reads an Int32Array. */
export type Int32Ptr = usize;
