// Writes Zarr v3 stores with zarrita and a manifest of what each holds:
//   node write.mjs DIR   ->  DIR/zarrita.zarr, DIR/expected/*.bin, DIR/manifest.json
// Each expected file is the whole array as zarrita reads it back (C order, little-endian),
// so a reader is checked against zarrita's own values. zarrita cannot write shards:
// sharded stores are assembled here from chunks zarrita encoded (its own codecs), with an
// index per the specification, and zarrita must read them back before they are listed.
import * as fs from "node:fs";
import * as path from "node:path";
import * as zarr from "zarrita";
import { FileSystemStore } from "@zarrita/storage";
import { values, bytesOf, writeFile, crc32c, cOrder } from "./common.mjs";

const dir = process.argv[2];
const root = path.join(dir, "zarrita.zarr");
fs.rmSync(root, { recursive: true, force: true });
const store = new FileSystemStore(root);
const manifest = [];

const bytesLE = { name: "bytes", configuration: { endian: "little" } };
const zstd = { name: "zstd", configuration: { level: 3, checksum: false } };
const blosc = (typesize) => ({
  name: "blosc",
  configuration: { cname: "lz4", clevel: 5, shuffle: "shuffle", typesize, blocksize: 0 },
});

async function record(arr, name, what) {
  const got = await zarr.get(arr, null);
  const file = path.join(dir, "expected", name + ".bin");
  writeFile(file, bytesOf(cOrder(got)));
  manifest.push({
    store: root, path: name, what, dtype: arr.dtype, shape: arr.shape,
    dims: arr.dimensionNames ?? [], expected: file,
  });
}

async function array(name, opts, write = "all") {
  const arr = await zarr.create(zarr.root(store).resolve(name), opts);
  const n = opts.shape.reduce((a, b) => a * b, 1);
  if (write === "all") {
    await zarr.set(arr, null, { data: values(opts.dtype, n), shape: opts.shape, stride: stride(opts.shape) });
  } else {
    // Only the first chunk-row along axis 0: the rest reads as the fill value.
    const rows = Math.min(opts.chunkShape[0], opts.shape[0]);
    const shape = [rows, ...opts.shape.slice(1)];
    const m = shape.reduce((a, b) => a * b, 1);
    await zarr.set(arr, [zarr.slice(0, rows), ...opts.shape.slice(1).map(() => null)],
                   { data: values(opts.dtype, m, 3), shape, stride: stride(shape) });
  }
  return arr;
}

function stride(shape) {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

const cases = [
  ["u8_zstd", { shape: [7, 5], chunkShape: [3, 2], dtype: "uint8", codecs: [bytesLE, zstd], fillValue: 7,
                dimensionNames: ["y", "x"] }, "all", "uint8, zstd, edge chunks, dimension names"],
  ["i16_blosc", { shape: [10], chunkShape: [4], dtype: "int16", codecs: [bytesLE, blosc(2)], fillValue: -1 },
   "all", "int16, blosc lz4 shuffle"],
  ["i32_raw", { shape: [5, 6, 7], chunkShape: [2, 3, 4], dtype: "int32", codecs: [bytesLE], fillValue: 0,
                dimensionNames: ["t", "y", "x"] }, "all", "int32, no compression, 3-d"],
  ["f32_nan_partial", { shape: [9, 11], chunkShape: [4, 4], dtype: "float32", codecs: [bytesLE, blosc(4)],
                        fillValue: "NaN" }, "part", "float32, NaN fill, unwritten chunks"],
  ["f64_dot", { shape: [6, 5], chunkShape: [4, 4], dtype: "float64", codecs: [bytesLE, zstd], fillValue: 2.5,
                chunkSeparator: "." }, "part", "float64, '.' separator, fill 2.5"],
  ["f64_big", { shape: [4, 6], chunkShape: [3, 4], dtype: "float64",
                codecs: [{ name: "bytes", configuration: { endian: "big" } }], fillValue: "Infinity" },
   "part", "float64, big-endian bytes, Infinity fill"],
  ["i32_transpose", { shape: [5, 4], chunkShape: [3, 3], dtype: "int32",
                      codecs: [{ name: "transpose", configuration: { order: [1, 0] } }, bytesLE, zstd], fillValue: 0 },
   "all", "int32, transpose codec"],
  ["bool_mask", { shape: [5, 7], chunkShape: [2, 3], dtype: "bool", codecs: [bytesLE], fillValue: false },
   "all", "bool"],
  ["grp/sub/u16", { shape: [6], chunkShape: [4], dtype: "uint16", codecs: [bytesLE, zstd], fillValue: 0,
                    attributes: { units: "K" } }, "all", "uint16 inside nested groups"],
];

await zarr.create(zarr.root(store), { attributes: { title: "written by zarrita" } });
await zarr.create(zarr.root(store).resolve("grp"));
await zarr.create(zarr.root(store).resolve("grp/sub"));
for (const [name, opts, write, what] of cases) await record(await array(name, opts, write), name, what);

// ---- sharded stores ----------------------------------------------------------------
// zarrita encodes the inner chunks (as an unsharded array of the inner chunk shape);
// they are packed into shards with an index of (offset, nbytes) little-endian uint64
// pairs and a CRC-32C, at the end. Inner chunks zarrita did not write are marked empty.
async function sharded(name, { shape, shard, inner, dtype, codecs, fillValue, write, dims }, what) {
  const tmpName = "_inner_" + name;
  const tmp = await array(tmpName, { shape, chunkShape: inner, dtype, codecs, fillValue }, write);
  const grid = shard.map((s, i) => s / inner[i]);
  const nShards = shape.map((s, i) => Math.ceil(s / shard[i]));
  const meta = {
    zarr_format: 3, node_type: "array", shape, data_type: dtype,
    chunk_grid: { name: "regular", configuration: { chunk_shape: shard } },
    chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
    fill_value: fillValue,
    codecs: [{ name: "sharding_indexed", configuration: {
      chunk_shape: inner, codecs,
      index_codecs: [bytesLE, { name: "crc32c" }], index_location: "end" } }],
    attributes: {},
    ...(dims ? { dimension_names: dims } : {}),
  };
  writeFile(path.join(root, name, "zarr.json"), JSON.stringify(meta, null, 2));
  const count = grid.reduce((a, b) => a * b, 1);
  for (let s = 0; s < nShards.reduce((a, b) => a * b, 1); s++) {
    const sc = unravel(s, nShards);
    const parts = [];
    const index = new BigUint64Array(count * 2).fill(0xffffffffffffffffn);
    let offset = 0;
    for (let k = 0; k < count; k++) {
      const ic = unravel(k, grid).map((c, i) => sc[i] * grid[i] + c);
      const file = path.join(root, tmpName, "c", ...ic.map(String));
      if (!fs.existsSync(file)) continue;
      const b = fs.readFileSync(file);
      index[2 * k] = BigInt(offset);
      index[2 * k + 1] = BigInt(b.length);
      offset += b.length;
      parts.push(b);
    }
    if (parts.length === 0) continue;
    const ib = Buffer.from(index.buffer);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32c(ib));
    writeFile(path.join(root, name, "c", ...sc.map(String)), Buffer.concat([...parts, ib, crc]));
  }
  const want = bytesOf(cOrder(await zarr.get(tmp, null)));
  fs.rmSync(path.join(root, tmpName), { recursive: true });
  const arr = await zarr.open(zarr.root(store).resolve(name), { kind: "array" });
  // The assembled shards must read back, through zarrita's sharding reader, as the data.
  const got = bytesOf(cOrder(await zarr.get(arr, null)));
  if (!got.equals(want)) throw new Error(`${name}: zarrita reads the assembled shards differently`);
  await record(arr, name, what);
}

function unravel(i, shape) {
  const out = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return out;
}

await sharded("sh_f32", { shape: [10, 9], shard: [6, 6], inner: [3, 2], dtype: "float32",
                          codecs: [bytesLE, zstd], fillValue: -9999, write: "all", dims: ["y", "x"] },
              "sharded float32, zstd inner chunks, edge shards");
await sharded("sh_i16_partial", { shape: [12, 8], shard: [8, 8], inner: [4, 4], dtype: "int16",
                                  codecs: [bytesLE, blosc(2)], fillValue: 3, write: "part" },
              "sharded int16, blosc, empty inner chunks and a missing shard");
await sharded("sh_u8_raw", { shape: [9], shard: [4], inner: [2], dtype: "uint8",
                             codecs: [bytesLE], fillValue: 0, write: "all" },
              "sharded uint8, no compression, 1-d");

writeFile(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
console.log(JSON.stringify({ written: manifest.length }));
