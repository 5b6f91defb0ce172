// Reads arrays with zarrita and prints what it found as JSON, one entry per array:
//   node read.mjs OUTDIR STORE:PATH ...
// Each entry: dtype, shape, chunks (the chunk grid), dims, attributes, fill_value, and
// the values' bytes (C order, little-endian) written to OUTDIR/N.bin, with their CRC-32C.
import * as path from "node:path";
import * as zarr from "zarrita";
import { FileSystemStore } from "@zarrita/storage";
import { bytesOf, writeFile, crc32c, cOrder } from "./common.mjs";

const [outDir, ...specs] = process.argv.slice(2);
const out = [];
for (const [i, spec] of specs.entries()) {
  const cut = spec.lastIndexOf(":");
  const [storeDir, name] = cut > 0 ? [spec.slice(0, cut), spec.slice(cut + 1)] : [spec, ""];
  const store = new FileSystemStore(storeDir);
  const loc = name ? zarr.root(store).resolve(name) : zarr.root(store);
  const arr = await zarr.open.v3(loc, { kind: "array" });
  const got = await zarr.get(arr, null);
  const bytes = bytesOf(cOrder(got));
  const file = path.join(outDir, `${i}.bin`);
  writeFile(file, bytes);
  out.push({
    spec, dtype: arr.dtype, shape: arr.shape, chunks: arr.chunks, dims: arr.dimensionNames ?? [],
    attributes: arr.attrs, fill_value: arr.fillValue === null ? null : String(arr.fillValue),
    bytes: file, crc32c: crc32c(bytes),
  });
}
console.log(JSON.stringify(out));
