// Shared by write.mjs and read.mjs: typed arrays of each data type, raw bytes, CRC-32C.
import * as fs from "node:fs";
import * as path from "node:path";

export const TYPED = {
  bool: Uint8Array, // zarrita's BoolArray stores one byte per value
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  float32: Float32Array, float64: Float64Array,
};

// Deterministic values of `dtype` (negative ones for signed types, fractions for floats).
export function values(dtype, n, seed = 1) {
  const out = new (TYPED[dtype])(n);
  for (let i = 0; i < n; i++) {
    const v = (i * 37 + seed * 11) % 251;
    if (dtype === "bool") out[i] = (i * 7 + seed) % 3 === 0 ? 1 : 0;
    else if (dtype.startsWith("float")) out[i] = (v - 125) / 8;
    else if (dtype.startsWith("uint")) out[i] = dtype.endsWith("64") ? BigInt(v) : v;
    else out[i] = dtype.endsWith("64") ? BigInt(v - 125) : v - 125;
  }
  return out;
}

// The bytes of a typed array (or of zarrita's BoolArray) in little-endian order.
export function bytesOf(data) {
  if (data.constructor.name === "BoolArray") data = new Uint8Array(Array.from(data, (b) => (b ? 1 : 0)));
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function writeFile(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// The values of zarrita's get() result in C order: a chunk stored through a transpose
// codec comes back as a view with other strides.
export function cOrder({ data, shape, stride }) {
  if (data.constructor.name === "BoolArray") data = Uint8Array.from(Array.from(data, (b) => (b ? 1 : 0)));
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new data.constructor(n);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = 0; d < shape.length; d++) off += idx[d] * stride[d];
    out[i] = data[off];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
