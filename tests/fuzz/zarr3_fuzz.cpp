// libFuzzer target: what a Zarr v3 store hands the reader, in the input format of
// zarr_input.hpp. Mode 3 (kChunk): a zarr.json document and a stored chunk, decoded
// through the array's codecs (a sharded array: through its inner codecs as one inner
// chunk, and as a shard index); what decodes must decode the same once encoded again.
// Every other mode: a zarr.json document alone (parse_array; what parses must print
// and parse again to the same document). As for v2, the metadata may claim chunks of up
// to 16 GiB while the bytes are capped (kMaxChunkInput): the decoders must check the
// bytes before they allocate what the metadata claims.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "io/zarr3.hpp"
#include "tests/fuzz/zarr_input.hpp"

namespace {

using namespace rsdat;
using namespace rsdat::zarr3;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void fuzz_metadata(std::string_view text) {
  auto meta = parse_array(text, "zarr.json");
  if (!meta.ok()) return;
  const std::string printed = to_json(*meta);
  auto again = parse_array(printed, "again");
  check(again.ok(), "to_json prints what parse_array reads");
  check(to_json(*again) == printed, "to_json keeps the metadata");
}

void fuzz_chunk(const fuzz::ZarrInput& in) {
  auto meta = parse_array(in.text, "zarr.json");
  if (!meta.ok()) return;
  const Codec* shard = meta->sharding();
  if (shard) (void)decode_shard_index(*meta, in.chunk, in.chunk.size(), "index");
  const std::vector<Codec>& codecs = shard ? shard->inner : meta->codecs;
  const Shape& shape = shard ? shard->inner_chunks : meta->chunks;
  auto chunk = decode(codecs, meta->dtype, shape, in.chunk, "chunk");
  if (!chunk.ok()) return;
  check(chunk->shape == shape && chunk->dtype == meta->dtype, "the chunk has the chunk shape");
  // Encoding may refuse what reading accepts (a zstd level beyond what zstd has).
  auto stored = encode(codecs, meta->dtype, shape, *chunk, "chunk");
  if (!stored.ok()) return;
  auto back = decode(codecs, meta->dtype, shape, stored->view(), "again");
  check(back.ok() && std::memcmp(back->bytes(), chunk->bytes(), chunk->nbytes()) == 0, "encoding round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::ZarrInput in = fuzz::split_zarr(data, size);
  if (in.mode == fuzz::ZarrMode::kChunk) {
    fuzz_chunk(in);
  } else {
    fuzz_metadata(in.text);
  }
  return 0;
}
