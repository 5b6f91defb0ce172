// Every array operation on a real scheduler and 2 worker processes on loopback,
// checked against a direct xtensor computation on the same input.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <thread>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xio.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>
#include <xtensor/xmanipulation.hpp>

#include "client/array_internal.hpp"
#include "client/client_internal.hpp"
#include "rsdat/rsdat.hpp"
#include "ops/builtin_ops.hpp"

namespace rsdat {
namespace {

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "2GB"});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    client_ = nullptr;
    cluster_ = nullptr;
  }
  static LocalCluster* cluster_;
  static Client* client_;
};
LocalCluster* ClusterTest::cluster_ = nullptr;
Client* ClusterTest::client_ = nullptr;

xt::xarray<double> dot(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  xt::xarray<double> c = xt::zeros<double>({a.shape()[0], b.shape()[1]});
  for (size_t i = 0; i < a.shape()[0]; ++i)
    for (size_t k = 0; k < a.shape()[1]; ++k)
      for (size_t j = 0; j < b.shape()[1]; ++j) c(i, j) += a(i, k) * b(k, j);
  return c;
}

// Population variance over `axes`, by hand: two passes over every element.
xt::xarray<double> ref_var(const xt::xarray<double>& x, const std::vector<size_t>& axes) {
  std::vector<size_t> out_shape;
  std::vector<bool> reduced(x.dimension(), false);
  for (size_t a : axes) reduced[a] = true;
  for (size_t i = 0; i < x.dimension(); ++i)
    if (!reduced[i]) out_shape.push_back(x.shape()[i]);
  xt::xarray<double> sum = xt::zeros<double>(out_shape), sq = xt::zeros<double>(out_shape);
  const size_t count = x.size() / std::max<size_t>(1, sum.size());
  auto out_index = [&](size_t flat) {
    size_t o = 0;
    std::vector<size_t> idx(x.dimension());
    for (size_t i = x.dimension(); i-- > 0;) {
      idx[i] = flat % x.shape()[i];
      flat /= x.shape()[i];
    }
    for (size_t i = 0; i < x.dimension(); ++i)
      if (!reduced[i]) o = o * x.shape()[i] + idx[i];
    return o;
  };
  for (size_t f = 0; f < x.size(); ++f) sum.flat(out_index(f)) += x.flat(f);
  for (size_t f = 0; f < x.size(); ++f) {
    double d = x.flat(f) - sum.flat(out_index(f)) / static_cast<double>(count);
    sq.flat(out_index(f)) += d * d;
  }
  return sq / static_cast<double>(count);
}

// Running and not a zombie (a reparented process may wait for a reaper).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return false;
  int p;
  char comm[256], state = '?';
  int n = std::fscanf(f, "%d %255s %c", &p, comm, &state);
  std::fclose(f);
  return n == 3 && state != 'Z';
}

// The values random::uniform gives, computed here directly.
xt::xarray<double> expected_uniform(const Shape& shape, uint64_t seed) {
  xt::xarray<double> out = xt::xarray<double>::from_shape(std::vector<size_t>(shape.begin(), shape.end()));
  for (size_t i = 0; i < out.size(); ++i) out.flat(i) = ops::uniform_at(seed, i);
  return out;
}

template <typename A, typename B>
void expect_close(const A& actual, const B& expected, double tol = 1e-9) {
  ASSERT_EQ(std::vector<size_t>(actual.shape().begin(), actual.shape().end()),
            std::vector<size_t>(expected.shape().begin(), expected.shape().end()));
  for (size_t i = 0; i < actual.size(); ++i) {
    double a = static_cast<double>(actual.flat(i)), e = static_cast<double>(expected.flat(i));
    ASSERT_NEAR(a, e, tol * std::max(1.0, std::abs(e))) << "at flat index " << i;
  }
}

struct Case {
  Shape shape;
  Shape chunks;
};
// Chunks that do not divide the shape, size-1 axes, a single chunk.
const std::vector<Case> kCases = {
    {{37, 23}, {10, 7}}, {{1, 50}, {1, 7}}, {{12, 1}, {5, 1}}, {{16, 16}, {16, 16}}, {{5, 6, 7}, {2, 4, 3}},
};

TEST_F(ClusterTest, RandomUniformIsTheSameForAnyChunking) {
  auto a = random::uniform({41, 29}, {10, 7}, 7).compute<double>();
  auto b = random::uniform({41, 29}, {41, 29}, 7).compute<double>();
  EXPECT_EQ(a, b);
  expect_close(a, expected_uniform({41, 29}, 7), 0);
  EXPECT_GE(xt::amin(a)(), 0.0);
  EXPECT_LT(xt::amax(a)(), 1.0);
}

TEST_F(ClusterTest, CreationFunctions) {
  EXPECT_EQ(zeros({7, 5}, {3, 2}).compute<double>(), xt::zeros<double>({7, 5}));
  EXPECT_EQ(ones({7, 5}, {3, 2}, DType::kInt32).compute<int32_t>(), xt::ones<int32_t>({7, 5}));
  auto f = full({4, 9}, {4, 4}, 2.5, DType::kFloat32).compute<float>();
  EXPECT_EQ(f, xt::xarray<float>(xt::ones<float>({4, 9}) * 2.5f));
  auto u8 = full({10}, {3}, 255, DType::kUInt8).compute<uint8_t>();
  EXPECT_EQ(u8(9), 255);
  auto bo = ones({3, 3}, {2, 2}, DType::kBool).compute<bool>();
  EXPECT_TRUE(xt::all(bo));
  auto u16 = full({3}, {2}, 65535, DType::kUInt16).compute<uint16_t>();
  EXPECT_EQ(u16(2), 65535);
  auto i64 = full({3}, {2}, -5, DType::kInt64).compute<int64_t>();
  EXPECT_EQ(i64(0), -5);
}

TEST_F(ClusterTest, ElementwiseArithmeticMatchesXtensor) {
  for (const auto& c : kCases) {
    auto x = random::uniform(c.shape, c.chunks, 1);
    auto y = random::uniform(c.shape, c.chunks, 2);
    auto ex = expected_uniform(c.shape, 1), ey = expected_uniform(c.shape, 2);
    auto r = ((x + y) * 2.0 - x / (y + 1.0) + 3.0 / (x + 1.0) - (1.0 - y) * y).compute<double>();
    xt::xarray<double> e = (ex + ey) * 2.0 - ex / (ey + 1.0) + 3.0 / (ex + 1.0) - (1.0 - ey) * ey;
    expect_close(r, e, 1e-12);
    auto m = (minimum(x, y) + maximum(x, y) - abs(-x) + sqrt(x) * exp(y) - log(x + 1.0)).compute<double>();
    xt::xarray<double> em = xt::minimum(ex, ey) + xt::maximum(ex, ey) - xt::abs(-ex) + xt::sqrt(ex) * xt::exp(ey) -
                            xt::log(ex + 1.0);
    expect_close(m, em, 1e-12);
  }
}

TEST_F(ClusterTest, ElementwiseOnDifferentChunksRechunks) {
  auto x = random::uniform({30, 20}, {7, 20}, 3);
  auto y = random::uniform({30, 20}, {30, 3}, 4);
  expect_close((x * y).compute<double>(), xt::xarray<double>(expected_uniform({30, 20}, 3) * expected_uniform({30, 20}, 4)),
               1e-14);
  EXPECT_THROW(x + random::uniform({20, 30}, {7, 7}, 1), std::invalid_argument);
}

TEST_F(ClusterTest, IsnanWhereAndNanmean) {
  // sqrt of x - 0.3 is NaN where x < 0.3.
  auto x = sqrt(random::uniform({17, 9, 5}, {4, 5, 2}, 8) - 0.3);
  xt::xarray<double> ex = xt::sqrt(expected_uniform({17, 9, 5}, 8) - 0.3);
  auto nan_mask = isnan(x).compute<bool>();
  EXPECT_EQ(isnan(x).dtype(), DType::kBool);
  for (size_t k = 0; k < ex.size(); ++k) ASSERT_EQ(nan_mask.flat(k), std::isnan(ex.flat(k)));
  auto filled = where(isnan(x), -1.0, x).compute<double>();
  for (size_t k = 0; k < ex.size(); ++k) ASSERT_EQ(filled.flat(k), std::isnan(ex.flat(k)) ? -1.0 : ex.flat(k));
  auto picked = where(isnan(x), coordinate({17, 9, 5}, {4, 5, 2}, 0) * 0.0 + 2.0, 3.0).compute<double>();
  for (size_t k = 0; k < ex.size(); ++k) ASSERT_EQ(picked.flat(k), std::isnan(ex.flat(k)) ? 2.0 : 3.0);
  // nanmean over the first axis, and over everything when all is NaN.
  auto m = x.nanmean({0}).compute<double>();
  for (size_t i = 0; i < 9; ++i) {
    for (size_t j = 0; j < 5; ++j) {
      double s = 0;
      int n = 0;
      for (size_t t = 0; t < 17; ++t) {
        if (!std::isnan(ex(t, i, j))) {
          s += ex(t, i, j);
          ++n;
        }
      }
      if (n == 0) {
        EXPECT_TRUE(std::isnan(m(i, j)));
      } else {
        EXPECT_NEAR(m(i, j), s / n, 1e-12);
      }
    }
  }
  auto none = where(isnan(x), x, x * 0.0 / 0.0).nanmean().item();
  EXPECT_TRUE(std::isnan(none));
}

TEST_F(ClusterTest, AstypeConvertsLikeNumpy) {
  auto x = random::uniform({20, 11}, {6, 5}, 5) * 10.0 - 5.0;
  xt::xarray<double> ex = expected_uniform({20, 11}, 5) * 10.0 - 5.0;
  auto i = x.astype(DType::kInt32);
  EXPECT_EQ(i.dtype(), DType::kInt32);
  auto ri = i.compute<int32_t>();
  for (size_t k = 0; k < ri.size(); ++k) ASSERT_EQ(ri.flat(k), static_cast<int32_t>(ex.flat(k)));
  auto f = x.astype(DType::kFloat32).compute<float>();
  for (size_t k = 0; k < f.size(); ++k) ASSERT_EQ(f.flat(k), static_cast<float>(ex.flat(k)));
  auto u8 = (x + 5.0).astype(DType::kUInt8).compute<uint8_t>();
  for (size_t k = 0; k < u8.size(); ++k) ASSERT_EQ(u8.flat(k), static_cast<uint8_t>(ex.flat(k) + 5.0));
  auto b = x.astype(DType::kBool).compute<bool>();
  for (size_t k = 0; k < b.size(); ++k) ASSERT_EQ(b.flat(k), ex.flat(k) != 0.0);
  auto u16 = (x + 5.0).astype(DType::kUInt16).astype(DType::kInt64).compute<int64_t>();
  for (size_t k = 0; k < u16.size(); ++k) ASSERT_EQ(u16.flat(k), static_cast<int64_t>(static_cast<uint16_t>(ex.flat(k) + 5.0)));
}

TEST_F(ClusterTest, TransposeMatchesXtensor) {
  for (const auto& c : kCases) {
    auto x = random::uniform(c.shape, c.chunks, 9);
    auto ex = expected_uniform(c.shape, 9);
    expect_close(x.T().compute<double>(), xt::xarray<double>(xt::transpose(ex)), 0);
  }
  auto x = random::uniform({4, 5, 6}, {3, 2, 4}, 10);
  auto ex = expected_uniform({4, 5, 6}, 10);
  expect_close(x.transpose({1, 2, 0}).compute<double>(), xt::xarray<double>(xt::transpose(ex, {1, 2, 0})), 0);
  expect_close(x.transpose({0, -1, 1}).compute<double>(), xt::xarray<double>(xt::transpose(ex, {0, 2, 1})), 0);
}

TEST_F(ClusterTest, XPlusXTransposeMean) {
  auto x = random::uniform({60, 60}, {20, 20}, 0);
  auto ex = expected_uniform({60, 60}, 0);
  auto r = (x + x.T()).mean({0}).compute<double>();
  xt::xarray<double> e = xt::mean(ex + xt::transpose(ex), {0});
  expect_close(r, e, 1e-12);
}

TEST_F(ClusterTest, ReductionsOverEveryAxisSetMatchXtensor) {
  for (const auto& c : kCases) {
    auto x = random::uniform(c.shape, c.chunks, 11);
    auto ex = expected_uniform(c.shape, 11);
    std::vector<std::vector<int64_t>> axis_sets = {{}, {0}, {-1}};
    if (c.shape.size() == 3) axis_sets.push_back({0, 2});
    if (c.shape.size() >= 2) axis_sets.push_back({0, 1});
    for (const auto& axes : axis_sets) {
      std::vector<size_t> xa;
      for (int64_t a : axes) xa.push_back(static_cast<size_t>(a < 0 ? a + static_cast<int64_t>(c.shape.size()) : a));
      if (axes.empty())
        for (size_t i = 0; i < c.shape.size(); ++i) xa.push_back(i);
      SCOPED_TRACE("shape " + shape_to_string(c.shape) + " axes " + std::to_string(xa.size()));
      for (int split : {2, 8}) {
        expect_close(x.sum(axes, split).compute<double>(), xt::xarray<double>(xt::sum(ex, xa)), 1e-12);
        expect_close(x.mean(axes, split).compute<double>(), xt::xarray<double>(xt::mean(ex, xa)), 1e-12);
        expect_close(x.min(axes, split).compute<double>(), xt::xarray<double>(xt::amin(ex, xa)), 0);
        expect_close(x.max(axes, split).compute<double>(), xt::xarray<double>(xt::amax(ex, xa)), 0);
        expect_close(x.std(axes, 0, split).compute<double>(), xt::xarray<double>(xt::sqrt(ref_var(ex, xa))), 1e-10);
        expect_close(x.var(axes, 0, split).compute<double>(), ref_var(ex, xa), 1e-10);
      }
    }
  }
}

TEST_F(ClusterTest, ReductionDtypes) {
  auto i = ones({10, 10}, {3, 3}, DType::kInt32);
  auto s = i.sum();
  EXPECT_EQ(s.dtype(), DType::kInt64);
  EXPECT_EQ(s.item(), 100.0);
  auto f = ones({10, 10}, {3, 3}, DType::kFloat32);
  EXPECT_EQ(f.mean().dtype(), DType::kFloat32);
  EXPECT_FLOAT_EQ(static_cast<float>(f.mean().item()), 1.0f);
  EXPECT_DOUBLE_EQ(ones({10, 10}, {3, 3}).std({}, 1).item(), 0.0);
  EXPECT_EQ(full({7}, {2}, 3, DType::kUInt8).max().dtype(), DType::kUInt8);
}

TEST_F(ClusterTest, MatmulMatchesXtensor) {
  auto a = random::uniform({37, 29}, {10, 8}, 21);
  auto b = random::uniform({29, 17}, {8, 6}, 22);
  auto ea = expected_uniform({37, 29}, 21), eb = expected_uniform({29, 17}, 22);
  expect_close(matmul(a, b).compute<double>(), dot(ea, eb), 1e-12);
  // b chunked differently along the shared axis: rechunked to match.
  auto b2 = random::uniform({29, 17}, {5, 17}, 22);
  expect_close(matmul(a, b2).compute<double>(), dot(ea, eb), 1e-12);
  EXPECT_THROW(matmul(a, a), std::invalid_argument);
  expect_close(matmul(a, b).sum().compute<double>(), xt::xarray<double>(xt::sum(dot(ea, eb))), 1e-12);
}

TEST_F(ClusterTest, RechunkKeepsValues) {
  auto x = random::uniform({33, 65}, {4, 7}, 31);
  auto ex = expected_uniform({33, 65}, 31);
  for (Shape target : {Shape{10, 10}, Shape{33, 1}, Shape{-1, 13}, Shape{1, -1}}) {
    auto r = x.rechunk(target);
    EXPECT_EQ(r.chunks()[0].front(), target[0] == -1 ? 33 : target[0]);
    expect_close(r.compute<double>(), ex, 0);
  }
  auto t = random::uniform({8, 16, 16}, {1, 16, 16}, 32);
  expect_close(t.rechunk({8, 4, 4}).std({0}).compute<double>(),
               xt::xarray<double>(xt::sqrt(ref_var(expected_uniform({8, 16, 16}, 32), {0}))), 1e-12);
  // Large enough that the blocks are first cut into pieces (1, 128, 256), then merged.
  auto big = random::uniform({8, 256, 256}, {1, 256, 256}, 33);
  ASSERT_NE(detail::rechunk_intermediate(big.chunks(), detail::regular_chunks(big.shape(), {8, 32, 32}), 8),
            big.chunks());
  expect_close(big.rechunk({8, 32, 32}).compute<double>(), expected_uniform({8, 256, 256}, 33), 0);
  // An astype before it is done while cutting: the same float32 values.
  auto as32 = big.astype(DType::kFloat32);
  EXPECT_EQ(as32.rechunk({8, 32, 32}).compute<float>(), as32.compute<float>());
  EXPECT_EQ(big.astype(DType::kInt32).rechunk({8, 32, 32}).compute<int32_t>(), xt::zeros<int32_t>({8, 256, 256}));
}

// Small results come with the scheduler's notice that they are ready (no request to
// a worker); large ones are fetched from the workers. Both arrive whole and right.
TEST_F(ClusterTest, SmallResultsComeInlineAndLargeOnesAreFetched) {
  auto x = random::uniform({40, 30}, {10, 10}, 51);
  auto ex = expected_uniform({40, 30}, 51);
  expect_close(x.compute<double>(), ex, 0);  // 9.6 KB in 12 chunks
  EXPECT_EQ(client_->last_stats().results_inline, 12u);
  EXPECT_EQ(client_->last_stats().bytes_transferred, 40u * 30 * 8);
  EXPECT_DOUBLE_EQ(x.sum().item(client_), xt::sum(ex)());
  EXPECT_EQ(client_->last_stats().results_inline, 1u);
  // 2 MB in chunks of 80 KB: over both limits.
  auto big = random::uniform({500, 500}, {100, 100}, 52);
  expect_close(big.compute<double>(), expected_uniform({500, 500}, 52), 0);
  EXPECT_EQ(client_->last_stats().results_inline, 0u);
  EXPECT_EQ(client_->last_stats().bytes_transferred, 500u * 500 * 8);
  // A persisted array's chunks are in memory already: fetched, whatever their size.
  Array p = x.persist(client_);
  expect_close(p.compute<double>(), ex, 0);
  EXPECT_EQ(client_->last_stats().results_inline, 0u);
}

TEST_F(ClusterTest, PersistKeepsChunksUntilReleased) {
  auto x = random::uniform({40, 40}, {10, 10}, 41);
  auto ex = expected_uniform({40, 40}, 41);
  {
    Array p = (x * 2.0).persist();
    ClusterStatus st = client_->cluster_status();
    uint64_t held = 0;
    for (const auto& w : st.workers) held += w.keys;
    EXPECT_EQ(held, 16u);
    expect_close(p.sum().compute<double>(), xt::xarray<double>(xt::sum(ex * 2.0)), 1e-12);
    expect_close((p + 1.0).compute<double>(), xt::xarray<double>(ex * 2.0 + 1.0), 1e-12);
  }
  // Released: nothing stays on the workers (scheduler's view and the workers' own
  // heartbeats, so wait past one heartbeat interval).
  bool empty = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  for (int i = 0; i < 100 && !empty; ++i) {
    ClusterStatus st = client_->cluster_status();
    empty = st.tasks == 0;
    for (const auto& w : st.workers) empty = empty && w.keys == 0 && w.managed_bytes == 0;
    if (!empty) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(empty) << "workers still hold chunks after release";
}

// Keys the scheduler holds for any client.
uint64_t keys_held(Client& c) {
  uint64_t held = 0;
  for (const auto& w : c.cluster_status().workers) held += w.keys;
  return held;
}

// A local array of 1 GiB goes to the workers once, in batches, when from_array is
// called; computations on it then send no chunk of it again, and it is released with
// the Array.
TEST_F(ClusterTest, FromArrayOfAGigabyteIsSentOnceAndStays) {
  const size_t n = 1ull << 28;  // float32: 1 GiB
  xt::xarray<float> local = xt::xarray<float>::from_shape({n / 4096, 4096});
  for (size_t k = 0; k < n; ++k) local.flat(k) = static_cast<float>(k % 1000) * 0.25f;
  const uint64_t before = keys_held(*client_);
  {
    Array a = from_array(local, {8192, 4096}, client_);  // 8 chunks of 128 MiB, in pieces
    EXPECT_EQ(keys_held(*client_), before + 8);
    Array col = view(a, all(), 7);
    xt::xarray<float> got = col.compute<float>(client_);
    EXPECT_EQ(client_->last_stats().tasks, 8u);  // the view's, none of from_array
    ASSERT_EQ(got.size(), n / 4096);
    for (size_t r = 0; r < got.size(); r += 997) ASSERT_EQ(got(r), local(r, 7)) << r;
    // 1000 values repeat 268435.456 times: the exact sum, in float64.
    double expect = 0;
    for (size_t k = 0; k < n; ++k) expect += static_cast<double>(local.flat(k));
    EXPECT_DOUBLE_EQ(a.astype(DType::kFloat64).sum().item(client_), expect);
  }
  bool released = false;
  for (int i = 0; i < 100 && !released; ++i) {
    released = keys_held(*client_) == before;
    if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(released) << "from_array's chunks still held after the Array went";
}

TEST_F(ClusterTest, APersistedArrayDroppedOnAnotherThreadReleasesItsChunks) {
  Array p = random::uniform({40, 40}, {10, 10}, 43).persist(client_);
  EXPECT_EQ(keys_held(*client_), 16u);
  std::thread other([p = std::move(p)]() mutable { p = Array(); });  // the last handle goes there
  other.join();
  bool released = false;
  for (int i = 0; i < 100 && !released; ++i) {  // the scheduler forgets them as it reads the release
    released = keys_held(*client_) == 0;
    if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(released) << keys_held(*client_) << " chunks still held";
}

TEST_F(ClusterTest, SeveralThreadsComputeThroughOneClient) {
  constexpr int kThreads = 4;
  std::vector<xt::xarray<double>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto x = random::uniform({60, 50}, {20, 20}, 70 + t);
      Array kept = (x * 2.0).persist();  // the default client, from this thread too
      got[t] = (kept + x).sum({0}).compute<double>(client_);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    expect_close(got[t], xt::xarray<double>(xt::sum(expected_uniform({60, 50}, 70 + t) * 3.0, {0})), 1e-12);
  }
  bool released = false;
  for (int i = 0; i < 100 && !released; ++i) {
    released = keys_held(*client_) == 0;
    if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(released) << keys_held(*client_) << " chunks still held";
}

TEST_F(ClusterTest, AfterComputeWorkersHoldNothing) {
  auto x = random::uniform({100, 100}, {10, 10}, 51);
  (void)(x + x.T()).mean({0}).compute<double>();
  bool empty = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // a heartbeat later
  for (int i = 0; i < 100 && !empty; ++i) {
    ClusterStatus st = client_->cluster_status();
    ASSERT_EQ(st.workers.size(), 2u);
    empty = st.tasks == 0;
    for (const auto& w : st.workers) empty = empty && w.keys == 0 && w.managed_bytes == 0;
    if (!empty) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(empty);
}

TEST_F(ClusterTest, KernelErrorReachesTheCallerAndTheClusterGoesOn) {
  // A task whose kernel throws (assemble with a hole in its output).
  TaskSpec bad;
  bad.key = {detail::new_token(), 0};
  bad.op = ops::kAssemble;
  bad.params = ops::assemble_params({0}, {});
  bad.dtype = DType::kFloat64;
  bad.shape = {4};
  try {
    client_->impl().run({std::vector<TaskSpec>{bad}}, {bad.key});
    FAIL() << "expected a TaskError";
  } catch (const TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("assemble"), std::string::npos) << e.what();
    EXPECT_NE(e.task().find(bad.key.to_string()), std::string::npos) << e.task();
    EXPECT_FALSE(e.worker().empty());
    EXPECT_FALSE(e.worker_message().empty());
  }
  // An op no worker knows.
  TaskSpec unknown = bad;
  unknown.key = {detail::new_token(), 0};
  unknown.op = "no_such_op";
  EXPECT_THROW(client_->impl().run({std::vector<TaskSpec>{unknown}}, {unknown.key}), TaskError);
  // Dependents of a failed task fail with it, through the array API too.
  auto x = ones({10}, {5});
  EXPECT_DOUBLE_EQ(x.sum().item(), 10.0);
  ClusterStatus st = client_->cluster_status();
  EXPECT_EQ(st.workers.size(), 2u);
  for (pid_t pid : cluster_->worker_pids()) EXPECT_EQ(::kill(pid, 0), 0);
}

TEST_F(ClusterTest, ZeroDimensionalAndEmptyArrays) {
  auto s = ones({3, 4}, {2, 2}).sum();
  EXPECT_EQ(s.ndim(), 0u);
  auto v = s.compute<double>();
  EXPECT_EQ(v.dimension(), 0u);
  EXPECT_DOUBLE_EQ(v(), 12.0);
  auto e = zeros({0, 5}, {2, 2});
  EXPECT_EQ(e.compute<double>().size(), 0u);
  EXPECT_DOUBLE_EQ(e.sum().item(), 0.0);
}

TEST_F(ClusterTest, TwoClientsShareTheCluster) {
  Client other(*cluster_, ClientOptions{.progress = false});
  auto a = ones({20}, {3}).sum().compute<double>(&other);
  auto b = ones({20}, {3}).sum().compute<double>(client_);
  EXPECT_DOUBLE_EQ(a(), 20.0);
  EXPECT_DOUBLE_EQ(b(), 20.0);
}

TEST(LocalClusterTest, StopsItsDaemons) {
  std::vector<pid_t> pids;
  {
    LocalCluster c(LocalClusterOptions{.workers = 1, .threads_per_worker = 1, .memory_limit = "1GB"});
    pids = c.worker_pids();
    pids.push_back(c.scheduler_pid());
    Client cl(c, ClientOptions{.progress = false});
    EXPECT_DOUBLE_EQ(ones({5}, {2}).sum().item(&cl), 5.0);
  }
  for (pid_t p : pids) EXPECT_FALSE(alive(p)) << "daemon " << p << " still running";
}

// A program that dies without running destructors (here: killed) takes its local
// cluster with it.
TEST(LocalClusterTest, DaemonsDieWithTheProgram) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    try {
      LocalCluster c(LocalClusterOptions{.workers = 2, .threads_per_worker = 1, .memory_limit = "1GB"});
      std::vector<pid_t> pids = c.worker_pids();
      pids.push_back(c.scheduler_pid());
      (void)!::write(fds[1], pids.data(), pids.size() * sizeof(pid_t));
      ::close(fds[1]);
      ::pause();  // killed by the parent
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(fds[1]);
  std::vector<pid_t> pids(3);
  ssize_t got = ::read(fds[0], pids.data(), pids.size() * sizeof(pid_t));
  ::close(fds[0]);
  ASSERT_EQ(got, static_cast<ssize_t>(3 * sizeof(pid_t)));
  for (pid_t p : pids) EXPECT_EQ(::kill(p, 0), 0);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // The daemons are the child's children: reparented, they get SIGINT and exit.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = true;
    for (pid_t p : pids) gone = gone && !alive(p);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "daemons outlived the program that started them";
}

// A scheduler killed mid-computation: the client gives up with a clear error and the
// workers exit once their death timeout passes.
TEST(ClientTest, DeadSchedulerIsAClearErrorAndWorkersExit) {
  const char* bin = std::getenv("RSDAT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  char dir[] = "/tmp/rsdat-dead-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string file = std::string(dir) + "/scheduler.json";
  auto spawn = [](std::vector<std::string> args) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  };
  pid_t sched = spawn({std::string(bin) + "/rsdat-scheduler", "--port", "0", "--scheduler-file", file,
                       "--log-level", "off"});
  pid_t worker = spawn({std::string(bin) + "/rsdat-worker", "--scheduler-file", file, "--nthreads", "1",
                        "--memory-limit", "1GB", "--death-timeout", "2", "--log-level", "off"});
  auto client = Client::from_scheduler_file(file, 30, ClientOptions{.scheduler_timeout = 2, .progress = false});
  ASSERT_DOUBLE_EQ(ones({10}, {5}).sum().item(client.get()), 10.0);
  ::kill(sched, SIGKILL);
  ::waitpid(sched, nullptr, 0);
  auto t0 = std::chrono::steady_clock::now();
  try {
    (void)ones({10}, {5}).sum().item(client.get());
    FAIL() << "expected a ClusterError";
  } catch (const ClusterError& e) {
    EXPECT_NE(std::string(e.what()).find("stopped"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  bool exited = false;
  for (int i = 0; i < 200 && !exited; ++i) {
    exited = ::waitpid(worker, nullptr, WNOHANG) == worker;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(exited) << "worker kept running without a scheduler";
  if (!exited) {
    ::kill(worker, SIGKILL);
    ::waitpid(worker, nullptr, 0);
  }
  client.reset();
  std::filesystem::remove_all(dir);
}

TEST(ClientTest, UnreachableSchedulerIsAClearError) {
  try {
    Client c("tcp://127.0.0.1:1", ClientOptions{.connect_timeout = 1, .progress = false});
    FAIL();
  } catch (const ClusterError& e) {
    EXPECT_NE(std::string(e.what()).find("tcp://127.0.0.1:1"), std::string::npos);
  }
  EXPECT_THROW(ones({3}, {1}).sum().item(), ClusterError);  // no client at all
}

}  // namespace
}  // namespace rsdat
