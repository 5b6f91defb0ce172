// Framing on real ZeroMQ sockets over inproc: zero-copy chunks, decode limits.
#include "net/transport.hpp"

#include <gtest/gtest.h>

#include "net/wire_convert.hpp"

namespace rsdat {
namespace {

TEST(Transport, HeaderAndChunkFramesRoundTrip) {
  zmq::context_t ctx;
  zmq::socket_t a(ctx, zmq::socket_type::pair), b(ctx, zmq::socket_type::pair);
  a.bind("inproc://t1");
  b.connect("inproc://t1");
  Chunk c = Chunk::allocate(DType::kFloat32, {3, 5});
  for (int i = 0; i < 15; ++i) c.mutable_data<float>()[i] = static_cast<float>(i);
  capnp::MallocMessageBuilder m;
  auto h = m.initRoot<wire::Envelope>().initChunks();
  h.setRequestId(77);
  auto list = h.initChunks(1);
  set_key(list[0].initKey(), {5, 6});
  list[0].setFound(true);
  list[0].setDtype(to_wire(c.dtype));
  set_shape(list[0].initShape(2), c.shape);
  std::vector<zmq::message_t> payload;
  payload.push_back(chunk_frame(c));
  ASSERT_TRUE(send_message(a, nullptr, m, std::move(payload)).is_ok());
  auto got = recv_message(b, false);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  auto env = got->envelope();
  ASSERT_EQ(env.which(), wire::Envelope::CHUNKS);
  EXPECT_EQ(env.getChunks().getRequestId(), 77u);
  ASSERT_EQ(got->payload.size(), 1u);
  auto shape = to_shape(env.getChunks().getChunks()[0].getShape(), DType::kFloat32);
  ASSERT_TRUE(shape.ok());
  auto chunk = chunk_from_frame(std::move(got->payload[0]), DType::kFloat32, *shape);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->data<float>()[14], 14.0f);
  // A frame of the wrong size is refused.
  zmq::message_t small(8);
  EXPECT_FALSE(chunk_from_frame(std::move(small), DType::kFloat32, {3, 5}).ok());
}

TEST(Transport, LargeChunksTravelInSeveralFramesAndJoinAgain) {
  const int64_t n = static_cast<int64_t>(kChunkFrameBytes / 8) * 3 + 5;  // 3 full frames and a bit
  Chunk c = Chunk::allocate(DType::kFloat64, {n});
  for (int64_t i = 0; i < n; ++i) c.mutable_data<double>()[i] = static_cast<double>(i);
  std::vector<zmq::message_t> frames = chunk_frames(c);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[3].size(), 40u);
  EXPECT_EQ(frames[0].data(), c.bytes());  // zero copy on the sending side
  std::vector<zmq::message_t> payload;
  payload.emplace_back(3);  // another chunk's frame before it
  for (auto& f : frames) payload.push_back(zmq::message_t(f.data(), f.size()));
  auto joined = chunk_from_frames(payload, 1, 4, DType::kFloat64, {n});
  ASSERT_TRUE(joined.ok()) << joined.status().to_string();
  EXPECT_EQ(joined->data<double>()[n - 1], static_cast<double>(n - 1));
  EXPECT_EQ(joined->data<double>()[kChunkFrameBytes / 8], static_cast<double>(kChunkFrameBytes / 8));
  // Missing or short frames are refused.
  EXPECT_FALSE(chunk_from_frames(payload, 1, 9, DType::kFloat64, {n}).ok());
  EXPECT_FALSE(chunk_from_frames(payload, 0, 4, DType::kFloat64, {n}).ok());
  // A small chunk is one frame.
  EXPECT_EQ(chunk_frames(Chunk::allocate(DType::kUInt8, {10})).size(), 1u);
}

TEST(Transport, MalformedHeadersAreProtocolErrors) {
  zmq::context_t ctx;
  zmq::socket_t a(ctx, zmq::socket_type::pair), b(ctx, zmq::socket_type::pair);
  a.bind("inproc://t2");
  b.connect("inproc://t2");
  for (std::string junk : {std::string("abc"), std::string(16, '\xff'), std::string()}) {
    zmq::message_t m(junk.data(), junk.size());
    a.send(m, zmq::send_flags::none);
    auto got = recv_message(b, false);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), StatusCode::kProtocol);
  }
}

TEST(WireConvert, ShapesAndDtypesAreChecked) {
  capnp::MallocMessageBuilder m;
  auto t = m.initRoot<wire::TaskSpec>();
  auto s = t.initShape(2);
  s.set(0, uint64_t{1} << 40);
  s.set(1, uint64_t{1} << 40);
  EXPECT_FALSE(to_shape(t.asReader().getShape(), DType::kFloat64).ok());
  EXPECT_FALSE(to_dtype(static_cast<wire::DType>(200)).ok());
  t.setOp("");
  EXPECT_FALSE(to_task_spec(t.asReader()).ok());
  TaskSpec spec;
  spec.key = {1, 2};
  spec.op = "fill";
  spec.params = "\x01\x02";
  spec.deps = {{3, 4}};
  spec.dtype = DType::kUInt16;
  spec.shape = {2, 3};
  capnp::MallocMessageBuilder m2;
  set_task_spec(m2.initRoot<wire::TaskSpec>(), spec);
  auto back = to_task_spec(m2.getRoot<wire::TaskSpec>().asReader());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->key, spec.key);
  EXPECT_EQ(back->params, spec.params);
  EXPECT_EQ(back->deps, spec.deps);
  EXPECT_EQ(back->dtype, spec.dtype);
  EXPECT_EQ(back->shape, spec.shape);
}

}  // namespace
}  // namespace rsdat
