#include "net/transport.hpp"

#include <kj/exception.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace rsdat {

namespace {

Status decode_header(const zmq::message_t& frame, ReceivedMessage& out) {
  const size_t size = frame.size();
  if (size == 0 || size % sizeof(capnp::word) != 0) {
    return protocol_error("header of " + std::to_string(size) + " bytes is not a whole number of words");
  }
  if (size / sizeof(capnp::word) > kMaxHeaderWords) return protocol_error("header too large");
  // libzmq may hand small frames out misaligned: copy into aligned words.
  out.words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  std::memcpy(out.words.begin(), frame.data(), size);
  try {
    // Reading counts against this limit, and a list of zero-sized elements counts one
    // word per element although it takes none in the message: a bound proportional to
    // the message's size keeps a small message from expanding into a huge one (our
    // handlers read each part of a message a few times at most).
    capnp::ReaderOptions options;
    options.traversalLimitInWords = std::min<uint64_t>(kMaxHeaderWords, 8 * (size / sizeof(capnp::word)) + 1024);
    options.nestingLimit = kMaxNesting;
    out.reader = std::make_unique<capnp::FlatArrayMessageReader>(out.words.asPtr(), options);
    auto env = out.reader->getRoot<wire::Envelope>();
    (void)env.which();
  } catch (const kj::Exception& e) {
    out.reader.reset();
    return protocol_error(std::string("undecodable header: ") + e.getDescription().cStr());
  }
  return Status::ok();
}

}  // namespace

Status recv_message(zmq::socket_t& socket, bool router, zmq::recv_flags flags, ReceivedMessage& msg) {
  msg = ReceivedMessage{};
  std::vector<zmq::message_t> frames;
  bool too_many = false;
  try {
    zmq::message_t first;
    if (!socket.recv(first, flags)) return unavailable("no message");
    frames.push_back(std::move(first));
    while (frames.back().more()) {
      zmq::message_t next;
      (void)socket.recv(next);
      if (frames.size() > kMaxPayloadFrames + 2) {
        too_many = true;  // drain the rest without keeping it
        frames.back() = std::move(next);
        continue;
      }
      frames.push_back(std::move(next));
    }
  } catch (const zmq::error_t& e) {
    return unavailable(std::string("receive failed: ") + e.what());
  }
  if (too_many) {
    if (router) msg.identity = std::move(frames[0]);
    return protocol_error("too many frames in one message");
  }
  return decode_message(std::move(frames), router, msg);
}

Status decode_message(std::vector<zmq::message_t>&& frames, bool router, ReceivedMessage& msg) {
  msg = ReceivedMessage{};
  size_t idx = 0;
  if (router) {
    if (frames.empty()) return protocol_error("message without an identity frame");
    msg.identity = std::move(frames[0]);
    idx = 1;
  }
  if (frames.size() > kMaxPayloadFrames + 2) return protocol_error("too many frames in one message");
  if (idx >= frames.size()) return protocol_error("message without a header frame");
  if (router) {
    int fd = zmq_msg_get(frames[idx].handle(), ZMQ_SRCFD);
    msg.source_fd = fd >= 0 ? fd : -1;
    msg.peer_address = peer_address(frames[idx]);
  }
  RSDAT_RETURN_IF_ERROR(decode_header(frames[idx], msg));
  for (size_t i = idx + 1; i < frames.size(); ++i) msg.payload.push_back(std::move(frames[i]));
  return Status::ok();
}

Result<ReceivedMessage> recv_message(zmq::socket_t& socket, bool router, zmq::recv_flags flags) {
  ReceivedMessage msg;
  Status st = recv_message(socket, router, flags, msg);
  if (!st.is_ok()) return st;
  return msg;
}

Status send_message(zmq::socket_t& socket, const zmq::message_t* identity, capnp::MessageBuilder& header,
                    std::vector<zmq::message_t> payload) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(header);
  auto bytes = words.asBytes();
  try {
    if (identity) {
      zmq::message_t id(identity->data(), identity->size());
      if (!socket.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        return unavailable("peer not reachable (send would block)");
      }
    }
    zmq::message_t head(bytes.begin(), bytes.size());
    auto flags = payload.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore;
    // A ROUTER socket with ROUTER_MANDATORY refused above if the peer was gone; after
    // the first frame the rest of the message always goes out.
    (void)socket.send(head, flags);
    for (size_t i = 0; i < payload.size(); ++i) {
      (void)socket.send(payload[i], i + 1 == payload.size() ? zmq::send_flags::none : zmq::send_flags::sndmore);
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return unavailable("peer not connected");
    return unavailable(std::string("send failed: ") + e.what());
  }
  return Status::ok();
}

void send_best_effort(zmq::socket_t& socket, const zmq::message_t* identity, capnp::MessageBuilder& header,
                      std::vector<zmq::message_t> payload) {
  Status st = send_message(socket, identity, header, std::move(payload));
  if (!st.is_ok()) spdlog::debug("message dropped: {}", st.to_string());
}

zmq::message_t chunk_frame(const Chunk& chunk) {
  auto* hold = new std::shared_ptr<Buffer>(chunk.buffer);
  return zmq::message_t(
      const_cast<uint8_t*>(chunk.bytes()), chunk.nbytes(),
      [](void*, void* hint) { delete static_cast<std::shared_ptr<Buffer>*>(hint); }, hold);
}

Result<Chunk> chunk_from_frame(zmq::message_t&& frame, DType dtype, Shape shape) {
  Chunk c;
  c.dtype = dtype;
  c.shape = std::move(shape);
  if (frame.size() != c.nbytes()) {
    return protocol_error("chunk frame of " + std::to_string(frame.size()) + " bytes, expected " +
                          std::to_string(c.nbytes()));
  }
  auto* owned = new zmq::message_t(std::move(frame));
  c.buffer = Buffer::wrap(owned->data(), owned->size(), [owned] { delete owned; });
  return c;
}

std::vector<zmq::message_t> chunk_frames(const Chunk& chunk) {
  std::vector<zmq::message_t> out;
  const size_t n = chunk.nbytes();
  if (n <= kChunkFrameBytes) {
    out.push_back(chunk_frame(chunk));
    return out;
  }
  for (size_t off = 0; off < n; off += kChunkFrameBytes) {
    auto* hold = new std::shared_ptr<Buffer>(chunk.buffer);
    out.emplace_back(const_cast<uint8_t*>(chunk.bytes()) + off, std::min(kChunkFrameBytes, n - off),
                     [](void*, void* hint) { delete static_cast<std::shared_ptr<Buffer>*>(hint); }, hold);
  }
  return out;
}

Result<Chunk> chunk_from_frames(std::vector<zmq::message_t>& payload, size_t first, size_t count, DType dtype,
                                Shape shape) {
  if (count == 0) count = 1;
  if (first > payload.size() || count > payload.size() - first) return protocol_error("chunk frames missing");
  if (count == 1) return chunk_from_frame(std::move(payload[first]), dtype, std::move(shape));
  Chunk c;
  c.dtype = dtype;
  c.shape = std::move(shape);
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += payload[first + i].size();
  if (total != c.nbytes()) {
    return protocol_error("chunk frames of " + std::to_string(total) + " bytes, expected " + std::to_string(c.nbytes()));
  }
  c.buffer = Buffer::allocate(total);
  size_t off = 0;
  for (size_t i = 0; i < count; ++i) {
    zmq::message_t& f = payload[first + i];
    std::memcpy(c.buffer->data() + off, f.data(), f.size());
    off += f.size();
    f.rebuild();  // free the frame now
  }
  return c;
}

void send_error(zmq::socket_t& socket, const zmq::message_t* identity, StatusCode code, const std::string& message,
                uint64_t request_id) {
  capnp::MallocMessageBuilder b;
  auto err = b.initRoot<wire::Envelope>().initError();
  err.setCode(static_cast<wire::ErrorCode>(static_cast<int>(code)));
  err.setMessage(message.substr(0, 4096));
  err.setRequestId(request_id);
  send_best_effort(socket, identity, b);  // the peer erred: it may be gone too
}

void configure_socket(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, kMaxSocketMessageBytes);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
}

std::string peer_address(const zmq::message_t& frame) {
  try {
    const char* addr = const_cast<zmq::message_t&>(frame).gets("Peer-Address");
    return addr ? addr : "?";
  } catch (const zmq::error_t&) {
    return "?";
  }
}

}  // namespace rsdat
