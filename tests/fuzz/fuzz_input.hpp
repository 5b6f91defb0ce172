// How a fuzz input becomes messages: a sequence of
//   [sender: u8] [frame count - 1: u8, low 3 bits] ([length: u16 LE] [bytes])...
// each message going to the daemon with the identity frame "peer<sender % 4>" first.
// The seed writer (seeds.cpp) encodes valid conversations the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include <zmq.hpp>

namespace rsdat::fuzz {

inline constexpr size_t kMaxMessages = 64;

struct Message {
  uint8_t sender = 0;
  std::vector<std::string> frames;  // header first, then payload frames
};

inline std::vector<Message> split(const uint8_t* data, size_t size) {
  std::vector<Message> out;
  size_t pos = 0;
  while (pos + 2 <= size && out.size() < kMaxMessages) {
    Message m;
    m.sender = data[pos] % 4;
    size_t nframes = (data[pos + 1] & 7) + 1;
    pos += 2;
    for (size_t f = 0; f < nframes && pos + 2 <= size; ++f) {
      size_t len = data[pos] | (size_t{data[pos + 1]} << 8);
      pos += 2;
      if (len > size - pos) len = size - pos;
      m.frames.emplace_back(reinterpret_cast<const char*>(data + pos), len);
      pos += len;
    }
    out.push_back(std::move(m));
  }
  return out;
}

inline std::string encode(const std::vector<Message>& messages) {
  std::string out;
  for (const Message& m : messages) {
    out.push_back(static_cast<char>(m.sender));
    out.push_back(static_cast<char>((m.frames.size() - 1) & 7));
    for (const std::string& f : m.frames) {
      out.push_back(static_cast<char>(f.size() & 0xff));
      out.push_back(static_cast<char>((f.size() >> 8) & 0xff));
      out += f;
    }
  }
  return out;
}

// The ZeroMQ frames of `m` as a ROUTER socket delivers them: identity first.
inline std::vector<zmq::message_t> router_frames(const Message& m) {
  std::vector<zmq::message_t> frames;
  std::string identity = "peer" + std::to_string(m.sender);
  frames.emplace_back(identity.data(), identity.size());
  for (const std::string& f : m.frames) frames.emplace_back(f.data(), f.size());
  return frames;
}

}  // namespace rsdat::fuzz
