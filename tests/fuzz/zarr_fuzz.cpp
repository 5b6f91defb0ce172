// libFuzzer target: what a Zarr store hands the reader. The first byte selects the
// document; the rest is it (see zarr_input.hpp):
//   0  a .zarray document (parse_zarray; what parses must print and parse again)
//   1  a consolidated .zmetadata document and the path of an array in it
//   2  a .zattrs document for an array of 0-3 axes
//   3  a .zarray document and a chunk file's bytes, decoded as the first or the last
//      block of the array (decode_chunk; what decodes must decode the same once
//      encoded again)
// Everything the metadata can claim is allowed, chunk sizes up to 16 GiB included:
// only the chunk bytes are capped (kMaxChunkInput), so that a decoder that allocates
// what the metadata claims before checking the bytes trips -malloc_limit_mb.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "io/zarr.hpp"
#include "tests/fuzz/zarr_input.hpp"

namespace {

using namespace rsdat;
using namespace rsdat::zarr;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void fuzz_zarray(std::string_view text) {
  auto meta = parse_zarray(text, ".zarray");
  if (!meta.ok()) return;
  auto again = parse_zarray(to_zarray(*meta), "again");
  check(again.ok(), "to_zarray prints what parse_zarray reads");
  check(again->shape == meta->shape && again->chunks == meta->chunks && again->dtype == meta->dtype &&
            again->fortran_order == meta->fortran_order && again->compressor.id == meta->compressor.id,
        "to_zarray keeps the metadata");
}

void fuzz_zmetadata(const fuzz::ZarrInput& in) {
  auto entry = parse_zmetadata(in.text, in.path, ".zmetadata");
  if (!entry.ok() || entry->zarray.empty()) return;
  auto meta = parse_zarray(entry->zarray, entry->zarray_where);
  if (!meta.ok() || entry->zattrs.empty()) return;
  (void)parse_zattrs(entry->zattrs, *meta, ".zattrs");
  check(meta->dims.empty() || meta->dims.size() == meta->shape.size(), "one dimension name per axis");
}

void fuzz_zattrs(const fuzz::ZarrInput& in) {
  ArrayMeta meta;
  meta.shape = Shape(in.selector % 4, 2);
  meta.chunks = meta.shape;
  (void)parse_zattrs(in.text, meta, ".zattrs");
  check(meta.dims.empty() || meta.dims.size() == meta.shape.size(), "one dimension name per axis");
}

void fuzz_chunk(const fuzz::ZarrInput& in) {
  auto meta = parse_zarray(in.text, ".zarray");
  if (!meta.ok()) return;
  std::vector<int64_t> block(meta->shape.size(), 0);
  if (in.selector & 1) {
    for (size_t d = 0; d < block.size(); ++d) {
      block[d] = std::max<int64_t>(blocks_along(*meta, d) - 1, 0);
    }
  }
  const Shape extent = block_extent(*meta, block);
  auto chunk = decode_chunk(*meta, in.chunk, extent, "chunk");
  if (!chunk.ok()) return;
  check(chunk->shape == extent && chunk->dtype == meta->dtype, "the chunk has the block's shape");
  // Encoding may refuse what reading ignores (a compression level zlib does not have).
  auto stored = encode_chunk(*meta, *chunk);
  if (!stored.ok()) return;
  auto back = decode_chunk(*meta, stored->view(), extent, "again");
  check(back.ok() && std::memcmp(back->bytes(), chunk->bytes(), chunk->nbytes()) == 0, "encoding round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::ZarrInput in = fuzz::split_zarr(data, size);
  switch (in.mode) {
    case fuzz::ZarrMode::kZarray: fuzz_zarray(in.text); break;
    case fuzz::ZarrMode::kZmetadata: fuzz_zmetadata(in); break;
    case fuzz::ZarrMode::kZattrs: fuzz_zattrs(in); break;
    case fuzz::ZarrMode::kChunk: fuzz_chunk(in); break;
  }
  return 0;
}
