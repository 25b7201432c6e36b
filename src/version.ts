// simdprop's version, written into every model file it saves (kept equal to package.json's by a test).
export const VERSION = '0.1.0';
