// Framing of rsdat messages on ZeroMQ sockets, and the decode border.
//
// A message is [routing frames] header payload*: the header is one Cap'n Proto
// Envelope (proto/rsdat.capnp); payload frames are raw chunk bytes, sent and received
// without copies. Everything received is untrusted: the header is copied into aligned
// words and read with explicit limits; any fault is a Status, never a crash.
//
// Functions here touch one socket at a time and must be called on that socket's thread.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <memory>
#include <optional>
#include <vector>
#include <zmq.hpp>

#include "rsdat.capnp.h"
#include "core/chunk.hpp"
#include "core/status.hpp"

namespace rsdat {

// Limits for decoding one header. Control messages are small; a graph may be large.
inline constexpr uint64_t kMaxHeaderWords = 64ull << 20;  // 512 MiB of words, for huge graphs
inline constexpr int kMaxNesting = 16;
inline constexpr size_t kMaxPayloadFrames = 1 << 20;
inline constexpr int64_t kMaxSocketMessageBytes = 8ll << 30;  // ZMQ_MAXMSGSIZE on network sockets

struct ReceivedMessage {
  std::optional<zmq::message_t> identity;  // ROUTER sockets: the sender
  kj::Array<capnp::word> words;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader;
  std::vector<zmq::message_t> payload;
  int source_fd = -1;  // the connection it came on (ROUTER sockets), or -1
  std::string peer_address = "?";  // the sender's address (ROUTER sockets), when known

  wire::Envelope::Reader envelope() const { return reader->getRoot<wire::Envelope>(); }
};

// Receives one whole multipart message into `out` (blocking unless `flags` say
// otherwise; kUnavailable when nothing is there with dontwait). A malformed header
// gives kProtocol; the frames of that message are consumed either way, and for ROUTER
// sockets `out.identity` is set even then, so the sender can be answered.
Status recv_message(zmq::socket_t& socket, bool router, zmq::recv_flags flags, ReceivedMessage& out);
// Decodes the frames of one message (as recv_message does after receiving them).
Status decode_message(std::vector<zmq::message_t>&& frames, bool router, ReceivedMessage& out);
// The same for callers that need no answer on failure.
Result<ReceivedMessage> recv_message(zmq::socket_t& socket, bool router,
                                     zmq::recv_flags flags = zmq::recv_flags::none);

// Sends header (and payload frames). For ROUTER sockets pass the peer's identity.
// Returns kUnavailable when the peer is unreachable (ROUTER_MANDATORY) or the send
// would block.
Status send_message(zmq::socket_t& socket, const zmq::message_t* identity, capnp::MessageBuilder& header,
                    std::vector<zmq::message_t> payload = {});
// The same where a failed send is dropped on purpose, because the peer's loss is
// noticed elsewhere (its heartbeats stop, its connection closes, a request times out)
// and handled there: hellos, heartbeats, reports and answers to peers, releases.
// A failure is logged at debug level.
void send_best_effort(zmq::socket_t& socket, const zmq::message_t* identity, capnp::MessageBuilder& header,
                      std::vector<zmq::message_t> payload = {});

// A frame that borrows the chunk's buffer until ZeroMQ is done with it (zero copy).
zmq::message_t chunk_frame(const Chunk& chunk);
// A chunk that owns a received frame's bytes (zero copy). Checks the size.
Result<Chunk> chunk_from_frame(zmq::message_t&& frame, DType dtype, Shape shape);

// Large chunks travel as several frames of at most this many bytes: the receiver
// then allocates moderate blocks its allocator reuses, instead of fresh mappings whose
// page faults cost more than the copy that joins them. 1 MiB frames measured best
// (bench/transfer_bench.cpp: 16 MiB chunks 2.6 GB/s whole, 3.9 GB/s in 1 MiB frames).
inline constexpr size_t kChunkFrameBytes = 1 << 20;
// The largest result that travels inline, with the worker's report and the scheduler's
// KeysReady (proto: Assignment.inlineResult), whatever a client asks: beyond it, the
// client fetches from the worker.
inline constexpr uint64_t kMaxInlineResultBytes = 64 << 10;
// The chunk's bytes as zero-copy frames of at most kChunkFrameBytes (one when smaller).
std::vector<zmq::message_t> chunk_frames(const Chunk& chunk);
// A chunk from `count` consecutive frames starting at payload[first] (zero copy for
// one frame, joined into a pooled buffer otherwise). Checks the sizes.
Result<Chunk> chunk_from_frames(std::vector<zmq::message_t>& payload, size_t first, size_t count, DType dtype,
                                Shape shape);

// Sends an Error reply; failures to send are ignored (the peer is gone).
void send_error(zmq::socket_t& socket, const zmq::message_t* identity, StatusCode code, const std::string& message,
                uint64_t request_id = 0);

// Sets the options every rsdat socket uses (linger, max message size, hwm).
void configure_socket(zmq::socket_t& socket);

std::string peer_address(const zmq::message_t& frame);  // "Peer-Address" metadata, or "?"

}  // namespace rsdat
