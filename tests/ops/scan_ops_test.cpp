// The scan_block kernel on its own, through run_kernel: carries, identities, wrapping and
// refused inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "core/task.hpp"
#include "ops/builtin_ops.hpp"

namespace rsdat::ops {
namespace {

Chunk make(DType dt, Shape shape, std::function<double(int64_t)> f) {
  Chunk c = Chunk::allocate(dt, std::move(shape));
  visit_dtype(dt, [&](auto t) {
    using T = decltype(t);
    for (int64_t i = 0; i < c.num_elements(); ++i) c.mutable_data<T>()[i] = static_cast<T>(f(i));
  });
  return c;
}

double at(const Chunk& c, int64_t i) {
  return visit_dtype(c.dtype, [&](auto t) { return static_cast<double>(c.data<decltype(t)>()[i]); });
}

TaskSpec scan_spec(std::string params, DType dt, Shape shape) {
  TaskSpec s;
  s.key = {1, 0};
  s.op = kScanBlock;
  s.params = std::move(params);
  s.dtype = dt;
  s.shape = std::move(shape);
  return s;
}

TEST(ScanOps, ScanStartsFromTheCarryAlongEveryAxis) {
  // A 2 x 3 x 2 block of 0..11, the carry 100 + position in its slab.
  const Chunk in = make(DType::kFloat64, {2, 3, 2}, [](int64_t i) { return static_cast<double>(i); });
  for (int64_t axis = 0; axis < 3; ++axis) {
    Shape slab{2, 3, 2};
    slab[axis] = 1;
    const Chunk carry = make(DType::kFloat64, slab, [](int64_t i) { return 100.0 + i; });
    auto r = run_kernel(scan_spec(scan_block_params(ReduceKind::kSum, axis, true), DType::kFloat64, {2, 3, 2}),
                        std::vector<Chunk>{in, carry});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const Chunk& out = *r;
    // Element (i, j, k): the carry at its slab position plus the values up to it.
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t k = 0; k < 2; ++k) {
          int64_t idx[3] = {i, j, k};
          int64_t sdims[3] = {slab[0], slab[1], slab[2]};
          int64_t s = 0;
          for (int d = 0; d < 3; ++d) s = s * sdims[d] + (d == axis ? 0 : idx[d]);
          double want = 100.0 + static_cast<double>(s);
          for (int64_t t = 0; t <= idx[axis]; ++t) {
            int64_t e[3] = {i, j, k};
            e[axis] = t;
            want += static_cast<double>(e[0] * 6 + e[1] * 2 + e[2]);
          }
          EXPECT_EQ(at(out, i * 6 + j * 2 + k), want) << "axis " << axis;
        }
  }
}

TEST(ScanOps, IdentitiesNaNAndWrapping) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Chunk w = make(DType::kFloat64, {5}, [&](int64_t i) { return i == 0 || i == 3 ? nan : i + 1.0; });
  auto run = [&](ReduceKind kind, const Chunk& in, DType out) {
    auto r = run_kernel(scan_spec(scan_block_params(kind, 0, false), out, in.shape), std::vector<Chunk>{in});
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : Chunk{};
  };
  const Chunk ns = run(ReduceKind::kNanSum, w, DType::kFloat64);  // NaN 2 3 NaN 5
  EXPECT_EQ(at(ns, 0), 0.0);
  EXPECT_EQ(at(ns, 4), 10.0);
  const Chunk np = run(ReduceKind::kNanProd, w, DType::kFloat64);
  EXPECT_EQ(at(np, 0), 1.0);
  EXPECT_EQ(at(np, 4), 30.0);
  const Chunk mx = run(ReduceKind::kMax, make(DType::kFloat64, {4}, [&](int64_t i) { return i == 2 ? nan : 1.0 * i; }),
                       DType::kFloat64);
  EXPECT_EQ(at(mx, 1), 1.0);
  EXPECT_TRUE(std::isnan(at(mx, 2)) && std::isnan(at(mx, 3)));
  // uint8 accumulated in uint8 wraps; int64 products wrap in 64 bits.
  const Chunk u = run(ReduceKind::kSum, make(DType::kUInt8, {3}, [](int64_t) { return 200; }), DType::kUInt8);
  EXPECT_EQ(at(u, 1), 144.0);
  EXPECT_EQ(at(u, 2), 88.0);
  const Chunk big = run(ReduceKind::kProd, make(DType::kInt64, {3}, [](int64_t) { return 1LL << 32; }), DType::kInt64);
  EXPECT_EQ(at(big, 1), 0.0);
}

TEST(ScanOps, RefusesBadInputs) {
  const Chunk in = make(DType::kFloat64, {2, 3}, [](int64_t i) { return 1.0 * i; });
  auto fails = [&](std::string params, std::vector<Chunk> inputs, Shape out = {2, 3}) {
    return !run_kernel(scan_spec(std::move(params), DType::kFloat64, std::move(out)), inputs).ok();
  };
  EXPECT_TRUE(fails(scan_block_params(ReduceKind::kSum, 2, false), {in}));             // axis out of range
  EXPECT_TRUE(fails(scan_block_params(ReduceKind::kAll, 0, false), {in}));             // not a scan kind
  EXPECT_TRUE(fails(scan_block_params(ReduceKind::kSum, 0, true), {in}));              // carry missing
  EXPECT_TRUE(fails(scan_block_params(ReduceKind::kSum, 0, true), {in, in}));          // carry not a slab
  EXPECT_TRUE(fails(scan_block_params(ReduceKind::kSum, 0, false), {in}, {3, 2}));     // output shape
  EXPECT_FALSE(fails(scan_block_params(ReduceKind::kSum, 1, false), {in}));
}

}  // namespace
}  // namespace rsdat::ops
