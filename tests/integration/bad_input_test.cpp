// What arrives on a socket is untrusted: random bytes, truncated and oversized
// messages, a wrong protocol version, an unknown message kind, messages before the
// hello and messages of the wrong kind go to the scheduler and to a worker. Each gets
// an error reply; both daemons stay up and still compute correctly afterwards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <signal.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <zmq.hpp>

#include "rsdat.capnp.h"
#include "rsdat/rsdat.hpp"
#include "net/transport.hpp"
#include "net/wire_convert.hpp"

namespace rsdat {
namespace {

std::string bytes_of(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

std::string hello_bytes(uint32_t version, wire::Role role = wire::Role::CLIENT) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<wire::Envelope>().initHello();
  h.setVersion(version);
  h.setRole(role);
  h.setName("prober");
  return bytes_of(b);
}

// A valid envelope whose union discriminant is patched to a kind no daemon knows.
std::string unknown_kind_bytes() {
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::Envelope>().initGoodbye().setReason("x");
  std::string s = bytes_of(b);
  // Segment table (8 bytes), root pointer (8 bytes), then the data section: the
  // discriminant is its first 16 bits.
  uint16_t kind = 999;
  std::memcpy(&s[16], &kind, 2);
  return s;
}

class Prober {
 public:
  Prober(zmq::context_t& ctx, const std::string& address) : socket_(ctx, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(address);
  }
  void send(const std::string& bytes) {
    zmq::message_t m(bytes.data(), bytes.size());
    socket_.send(m, zmq::send_flags::none);
  }
  // The next reply's envelope kind, or -1 after `ms` without one, -2 if undecodable.
  // Heartbeats are skipped: the scheduler may check whether a connection is alive
  // (its descriptor number can be one a closed connection had).
  int reply_kind(std::string* text = nullptr, int ms = 5000) {
    for (int skipped = 0; skipped < 100; ++skipped) {
      zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(ms));
      if (!(item.revents & ZMQ_POLLIN)) return -1;
      auto msg = recv_message(socket_, false);
      if (!msg.ok()) return -2;
      auto env = msg->envelope();
      if (env.which() == wire::Envelope::HEARTBEAT) continue;
      if (text && env.which() == wire::Envelope::ERROR) *text = env.getError().getMessage().cStr();
      return static_cast<int>(env.which());
    }
    return -1;
  }

 private:
  zmq::socket_t socket_;
};

void expect_error_reply(Prober& p, const std::string& what, const std::string& needle = "") {
  std::string text;
  int kind = p.reply_kind(&text);
  EXPECT_EQ(kind, static_cast<int>(wire::Envelope::ERROR)) << what;
  if (!needle.empty()) {
    EXPECT_NE(text.find(needle), std::string::npos) << what << ": " << text;
  }
}

void probe(zmq::context_t& ctx, const std::string& address, bool is_scheduler) {
  SCOPED_TRACE(address);
  std::mt19937_64 rng(42);
  {
    Prober p(ctx, address);
    // Random bytes, of lengths that are and are not whole words.
    for (int i = 0; i < 40; ++i) {
      std::string junk(1 + rng() % 3000, '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      p.send(junk);
      int kind = p.reply_kind();
      EXPECT_EQ(kind, static_cast<int>(wire::Envelope::ERROR)) << "random message " << i;
    }
    // An empty frame.
    p.send("");
    expect_error_reply(p, "empty");
    // Truncated hellos.
    std::string hello = hello_bytes(wire::PROTOCOL_VERSION);
    p.send(hello.substr(0, hello.size() / 2));
    expect_error_reply(p, "truncated half");
    p.send(hello.substr(0, 8));
    expect_error_reply(p, "truncated to the segment table");
    // Oversized: 16 MiB whose segment table claims far more than is there.
    std::string big(16 << 20, '\xff');
    p.send(big);
    expect_error_reply(p, "oversized");
    // A message before hello.
    capnp::MallocMessageBuilder rel;
    rel.initRoot<wire::Envelope>().initReleaseKeys().initKeys(1);
    p.send(bytes_of(rel));
    expect_error_reply(p, "before hello", "hello");
    // Wrong protocol version.
    p.send(hello_bytes(wire::PROTOCOL_VERSION + 7));
    expect_error_reply(p, "wrong version", "version");
  }
  {
    Prober p(ctx, address);
    p.send(hello_bytes(wire::PROTOCOL_VERSION));
    if (is_scheduler) {
      EXPECT_EQ(p.reply_kind(), static_cast<int>(wire::Envelope::WELCOME));
    }
    p.send(unknown_kind_bytes());
    expect_error_reply(p, "unknown kind", "kind");
    // A kind this daemon never accepts.
    capnp::MallocMessageBuilder ct;
    ct.initRoot<wire::Envelope>().initComputeTasks().initTasks(2);
    p.send(bytes_of(ct));
    expect_error_reply(p, "wrong kind");
    if (is_scheduler) {
      // A graph with a malformed task (empty op), and one with an unknown dependency.
      capnp::MallocMessageBuilder g;
      auto sg = g.initRoot<wire::Envelope>().initSubmitGraph();
      sg.setGraphId(5);
      sg.initTasks(1);
      p.send(bytes_of(g));
      expect_error_reply(p, "bad task");
      capnp::MallocMessageBuilder g2;
      auto sg2 = g2.initRoot<wire::Envelope>().initSubmitGraph();
      auto t = sg2.initTasks(1)[0];
      t.setOp("fill");
      t.initDeps(1)[0].setToken(12345);
      t.initShape(1).set(0, 4);
      p.send(bytes_of(g2));
      expect_error_reply(p, "unknown dependency", "unknown");
      // A dtype out of range and an absurd shape.
      capnp::MallocMessageBuilder g3;
      auto t3 = g3.initRoot<wire::Envelope>().initSubmitGraph().initTasks(1)[0];
      t3.setOp("fill");
      t3.setDtype(static_cast<wire::DType>(77));
      p.send(bytes_of(g3));
      expect_error_reply(p, "bad dtype");
      capnp::MallocMessageBuilder g4;
      auto t4 = g4.initRoot<wire::Envelope>().initSubmitGraph().initTasks(1)[0];
      t4.setOp("fill");
      auto sh = t4.initShape(3);
      for (int i = 0; i < 3; ++i) sh.set(i, uint64_t{1} << 40);
      p.send(bytes_of(g4));
      expect_error_reply(p, "huge shape");
    } else {
      // Fetch of keys never held: answered with found = false.
      capnp::MallocMessageBuilder gc;
      auto req = gc.initRoot<wire::Envelope>().initGetChunks();
      req.setRequestId(9);
      req.initKeys(3);
      p.send(bytes_of(gc));
      EXPECT_EQ(p.reply_kind(), static_cast<int>(wire::Envelope::CHUNKS));
    }
  }
}

TEST(BadInput, DaemonsAnswerMalformedMessagesAndKeepServing) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  auto x = random::uniform({50, 50}, {10, 10}, 3);
  const double before = (x + x.T()).mean({0}).sum().item();

  ClusterStatus st = client.cluster_status();
  ASSERT_EQ(st.workers.size(), 2u);
  zmq::context_t ctx;
  probe(ctx, cluster.scheduler_address(), true);
  probe(ctx, st.workers[0].address, false);

  // Still up, still correct, for the old client and a new one.
  EXPECT_EQ(::kill(cluster.scheduler_pid(), 0), 0);
  for (pid_t pid : cluster.worker_pids()) EXPECT_EQ(::kill(pid, 0), 0);
  EXPECT_DOUBLE_EQ((x + x.T()).mean({0}).sum().item(), before);
  Client again(cluster, ClientOptions{.progress = false});
  EXPECT_DOUBLE_EQ((x + x.T()).mean({0}).sum().item(&again), before);
  ClusterStatus after = client.cluster_status();
  EXPECT_EQ(after.workers.size(), 2u);
  EXPECT_GE(after.malformed_messages, 40u);
}

uint64_t rss_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// A bounded stream of well-formed but senseless messages: reports of tasks never
// assigned, replicas and steals of unknown keys, releases of keys never held, fetches
// of keys never made. The daemons ignore them, keep serving, and do not grow.
TEST(BadInput, OutOfOrderMessagesChangeNothingAndCostNoMemory) {
  LocalCluster cluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  auto x = random::uniform({60, 60}, {10, 10}, 4);
  const double before = (x * 2.0).sum().item(&client);
  ClusterStatus st = client.cluster_status();
  const uint64_t sched_rss = rss_of(cluster.scheduler_pid());
  std::vector<uint64_t> worker_rss;
  for (pid_t p : cluster.worker_pids()) worker_rss.push_back(rss_of(p));

  zmq::context_t ctx;
  Prober fake_worker(ctx, cluster.scheduler_address());
  {
    capnp::MallocMessageBuilder b;
    auto h = b.initRoot<wire::Envelope>().initHello();
    h.setVersion(wire::PROTOCOL_VERSION);
    h.setRole(wire::Role::WORKER);
    h.setName("impostor");
    h.setAddress("tcp://127.0.0.1:9");
    h.setNthreads(1);
    fake_worker.send(bytes_of(b));
    EXPECT_EQ(fake_worker.reply_kind(), static_cast<int>(wire::Envelope::WELCOME));
  }
  Prober fake_client(ctx, cluster.scheduler_address());
  fake_client.send(hello_bytes(wire::PROTOCOL_VERSION));
  EXPECT_EQ(fake_client.reply_kind(), static_cast<int>(wire::Envelope::WELCOME));
  Prober peer(ctx, st.workers[0].address);
  peer.send(hello_bytes(wire::PROTOCOL_VERSION, wire::Role::PEER));
  for (uint64_t round = 0; round < 300; ++round) {
    capnp::MallocMessageBuilder r;
    auto tr = r.initRoot<wire::Envelope>().initTaskResults();
    auto results = tr.initResults(50);
    for (uint64_t i = 0; i < 50; ++i) {
      set_key(results[i].initKey(), {round + 1000, i});
      results[i].setOk(i % 2 == 0);
      results[i].setNbytes(1ull << 40);
      results[i].setMessage("never assigned");
    }
    auto acq = tr.initAcquired(20);
    for (uint64_t i = 0; i < 20; ++i) set_key(acq[i], {round + 5000, i});
    fake_worker.send(bytes_of(r));
    capnp::MallocMessageBuilder sr;
    auto steal = sr.initRoot<wire::Envelope>().initStealReply().initResults(20);
    for (uint64_t i = 0; i < 20; ++i) {
      set_key(steal[i].initKey(), {round + 9000, i});
      steal[i].setStolen(true);
    }
    fake_worker.send(bytes_of(sr));
    capnp::MallocMessageBuilder rel;
    auto keys = rel.initRoot<wire::Envelope>().initReleaseKeys().initKeys(50);
    for (uint64_t i = 0; i < 50; ++i) set_key(keys[i], {round + 7000, i});
    fake_client.send(bytes_of(rel));
    capnp::MallocMessageBuilder gc;
    auto req = gc.initRoot<wire::Envelope>().initGetChunks();
    req.setRequestId(round);
    auto want = req.initKeys(50);
    for (uint64_t i = 0; i < 50; ++i) set_key(want[i], {round + 3000, i});
    peer.send(bytes_of(gc));
    EXPECT_EQ(peer.reply_kind(), static_cast<int>(wire::Envelope::CHUNKS));
  }
  {
    capnp::MallocMessageBuilder b;
    b.initRoot<wire::Envelope>().initGoodbye().setReason("done");
    fake_worker.send(bytes_of(b));
  }
  EXPECT_DOUBLE_EQ((x * 2.0).sum().item(&client), before);
  EXPECT_DOUBLE_EQ((x + x.T()).mean().item(&client), (x + x.T()).mean().item(&client));
  // Bounded growth: a few MB of buffers, never the messages' worth (300 x 140 keys).
  EXPECT_LT(rss_of(cluster.scheduler_pid()), sched_rss + (32u << 20));
  for (size_t i = 0; i < worker_rss.size(); ++i) {
    EXPECT_LT(rss_of(cluster.worker_pids()[i]), worker_rss[i] + (64u << 20));
  }
  EXPECT_EQ(client.cluster_status().workers.size(), 2u);
}

// A message that names the operation, checked where the reduction is built.
void expect_invalid(const std::function<Array()>& build, const std::string& message) {
  try {
    (void)build();
    ADD_FAILURE() << "no exception, expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

// Reductions refuse what NumPy refuses, when the graph is built: bad and repeated axes,
// argmax and argmin of an empty axis, split_every < 2.
TEST(BadInput, ReductionsRefuseBadAxesNamingTheOperation) {
  auto x = random::uniform({6, 8}, {4, 3}, 1);
  auto empty = random::uniform({4, 0}, {2, 1}, 2);
  expect_invalid([&] { return x.argmax(2); }, "argmax: axis 2 is out of range for an array of 2 dims");
  expect_invalid([&] { return x.nanargmin(-3); }, "nanargmin: axis -3 is out of range for an array of 2 dims");
  expect_invalid([&] { return x.sum({0, -2}); }, "sum: repeated axis");
  expect_invalid([&] { return x.nanvar({5}); }, "nanvar: axis 5 is out of range for an array of 2 dims");
  expect_invalid([&] { return rsdat::std(x, {0}, 0, 1); }, "std: split_every must be at least 2");
  expect_invalid([&] { return empty.argmax(1); }, "argmax: attempt to get argmax of an empty sequence");
  expect_invalid([&] { return empty.argmin(); }, "argmin: attempt to get argmin of an empty sequence");
  expect_invalid([&] { return empty.nanargmax(1, {.keepdims = true}); },
                 "nanargmax: attempt to get argmax of an empty sequence");
  expect_invalid([&] { return rsdat::argmin(random::uniform({3}, {1}, 3), 1); },
                 "argmin: axis 1 is out of range for an array of 1 dims");
  // Along the non-empty axis there is an answer per (zero) element, as in NumPy.
  EXPECT_EQ(empty.argmax(0).shape(), Shape{0});
}

// nanargmax of a slice of NaN only: NumPy raises ValueError; lazily, compute() throws
// TaskError with the kernel's message, and the cluster goes on serving.
TEST(BadInput, NanArgOfAllNaNSliceFailsItsTask) {
  LocalCluster cluster(LocalClusterOptions{.workers = 1, .threads_per_worker = 1, .memory_limit = "1GB"});
  Client client(cluster, ClientOptions{.progress = false});
  auto x = random::uniform({6, 8}, {4, 3}, 4);
  auto holed = where(coordinate({6, 8}, {4, 3}, 1) > 6.0, std::nan(""), x);  // column 7: NaN
  try {
    (void)holed.nanargmax(0).compute<int64_t>(&client);
    ADD_FAILURE() << "no exception";
  } catch (const TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("nanargmax: All-NaN slice encountered"), std::string::npos) << e.what();
  }
  EXPECT_EQ(holed.nanargmax(1).compute<int64_t>(&client).size(), 6u);  // every row has numbers
  // No output elements, no error: along the full axis of a 4 x 0 array NumPy gives [].
  auto empty = random::uniform({4, 0}, {2, 1}, 5);
  EXPECT_EQ(empty.argmax(0).compute<int64_t>(&client).size(), 0u);
  EXPECT_EQ(empty.min({0}).compute<double>(&client).size(), 0u);
}

// Products of shapes that do not fit throw at build time, before anything runs, and
// the message names the function and the shapes.
TEST(BadInput, LinearAlgebraShapesThatDoNotFitThrowNamingTheOperationAndShapes) {
  auto expect_message = [](const std::function<void()>& build, const std::vector<std::string>& parts) {
    try {
      build();
      ADD_FAILURE() << "no exception, expected one naming " << parts[0];
    } catch (const std::invalid_argument& e) {
      for (const std::string& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto a = random::uniform({2, 3}, {1, 2}, 0);
  auto b = random::uniform({4, 5}, {2, 2}, 1);
  auto v = random::uniform({4}, {3}, 2);
  auto s = v.sum();
  expect_message([&] { (void)matmul(a, b); }, {"matmul", "(2, 3)", "(4, 5)"});
  expect_message([&] { (void)matmul(a, v); }, {"matmul", "(2, 3)", "(4,)"});
  expect_message([&] { (void)matmul(s, a); }, {"matmul", "()", "(2, 3)"});
  expect_message([&] { (void)matmul(random::uniform({2, 2, 3}, {1, 2, 3}, 3), random::uniform({3, 3, 4}, {1, 3, 4}, 4)); },
                 {"matmul", "(2, 2, 3)", "(3, 3, 4)", "broadcast"});
  expect_message([&] { (void)dot(a, b); }, {"dot", "(2, 3)", "(4, 5)"});
  expect_message([&] { (void)dot(v, a); }, {"dot", "(4,)", "(2, 3)"});
  expect_message([&] { (void)tensordot(a, b, 1); }, {"tensordot", "(2, 3)", "(4, 5)"});
  expect_message([&] { (void)tensordot(a, b, 3); }, {"tensordot", "(2, 3)", "(4, 5)"});
  expect_message([&] { (void)tensordot(a, b, {0}, {0, 1}); }, {"tensordot", "(2, 3)", "(4, 5)"});
  expect_message([&] { (void)tensordot(a, b, {2}, {0}); }, {"tensordot", "axis 2", "(2, 3)"});
  expect_message([&] { (void)tensordot(a, a, {0, 0}, {0, 1}); }, {"tensordot", "twice", "(2, 3)"});
  expect_message([&] { (void)einsum("ij,jk->ik", {a, b}); }, {"einsum", "ij,jk->ik", "(2, 3) (4, 5)"});
  expect_message([&] { (void)einsum("ij,jk->ik", {a}); }, {"einsum", "2 subscripts for 1 operands"});
  expect_message([&] { (void)einsum("ijk->i", {a}); }, {"einsum", "ijk", "(2, 3)"});
  expect_message([&] { (void)einsum("ii->i", {a}); }, {"einsum", "diagonal"});
  expect_message([&] { (void)einsum("...j->j", {a}); }, {"einsum", "..."});
  expect_message([&] { (void)einsum("ij->iz", {a}); }, {"einsum", "'z'"});
  expect_message([&] { (void)einsum("ij->ii", {a}); }, {"einsum", "repeats"});
}

}  // namespace
}  // namespace rsdat
