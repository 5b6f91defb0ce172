// How a fuzz input of rsdat-fuzz-zarr becomes Zarr documents:
//   [mode: u8] [selector: u8] [text length: u16 LE] [text] [rest]
// mode % 4 picks the document (ZarrMode); the selector picks the block of a chunk
// (bit 0: the last one, else the first) or the rank of the array a .zattrs belongs to;
// for a .zmetadata document the rest is the array's path, for a chunk it is the chunk
// file's bytes (at most kMaxChunkInput of them). The seed writer (seeds.cpp) encodes
// valid documents the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rsdat::fuzz {

// A zstd RLE block turns 4 bytes into 128 KiB: a chunk of this many bytes may claim
// up to 32 MiB, and blosc takes two blocks of scratch beside it, under the script's
// 128 MB limit on one allocation.
inline constexpr size_t kMaxChunkInput = 1024;

enum class ZarrMode : uint8_t { kZarray = 0, kZmetadata = 1, kZattrs = 2, kChunk = 3 };

struct ZarrInput {
  ZarrMode mode = ZarrMode::kZarray;
  uint8_t selector = 0;
  std::string_view text;
  std::string path;        // kZmetadata
  std::string_view chunk;  // kChunk
};

inline ZarrInput split_zarr(const uint8_t* data, size_t size) {
  ZarrInput in;
  if (size < 4) return in;
  in.mode = static_cast<ZarrMode>(data[0] % 4);
  in.selector = data[1];
  size_t len = data[2] | (size_t{data[3]} << 8);
  if (len > size - 4) len = size - 4;
  const char* p = reinterpret_cast<const char*>(data) + 4;
  in.text = std::string_view(p, len);
  std::string_view rest(p + len, size - 4 - len);
  if (in.mode == ZarrMode::kZmetadata) in.path = std::string(rest);
  if (in.mode == ZarrMode::kChunk) in.chunk = rest.substr(0, kMaxChunkInput);
  return in;
}

inline std::string encode_zarr(ZarrMode mode, uint8_t selector, std::string_view text, std::string_view rest = {}) {
  std::string out;
  out.push_back(static_cast<char>(mode));
  out.push_back(static_cast<char>(selector));
  out.push_back(static_cast<char>(text.size() & 0xff));
  out.push_back(static_cast<char>((text.size() >> 8) & 0xff));
  out += text;
  out += rest;
  return out;
}

}  // namespace rsdat::fuzz
