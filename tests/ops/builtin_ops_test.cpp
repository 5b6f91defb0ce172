// The built-in kernels on their own, through run_kernel, against direct computations.
#include "ops/builtin_ops.hpp"

#include <gtest/gtest.h>

#include <limits>

#include <cmath>
#include <numeric>
#include <random>

#include "core/task.hpp"

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

TaskSpec spec(const char* op, std::string params, DType dt, Shape shape) {
  TaskSpec s;
  s.key = {1, 0};
  s.op = op;
  s.params = std::move(params);
  s.dtype = dt;
  s.shape = std::move(shape);
  return s;
}

bool fails(const TaskSpec& s, std::vector<Chunk> in = {}) { return !run_kernel(s, in).ok(); }

Chunk run_ok(const TaskSpec& s, std::vector<Chunk> in = {}) {
  auto r = run_kernel(s, in);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : Chunk{};
}

TEST(BuiltinOps, FillConvertsToEveryDtype) {
  for (int d = 0; d < kNumDTypes; ++d) {
    DType dt = static_cast<DType>(d);
    Chunk c = run_ok(spec(kFill, fill_params(3), dt, {2, 3}));
    ASSERT_EQ(c.num_elements(), 6);
    EXPECT_EQ(at(c, 5), dt == DType::kBool ? 1.0 : 3.0) << dtype_name(dt);
  }
}

// The vectorised stream (AVX-512 where the CPU has it) and the baseline one agree to
// the bit, at every length and start (vector bodies, remainders, unaligned starts).
TEST(BuiltinOps, RandomStreamIsTheSameWithEveryInstructionSet) {
  std::vector<double> best(1100), base(1100);
  std::vector<float> best32(1100), base32(1100);
  for (uint64_t first : {0ull, 1ull, 7ull, 1000003ull, (1ull << 40) + 5}) {
    for (int64_t n : {0, 1, 7, 8, 9, 63, 64, 65, 1100}) {
      uniform_values(9, first, n, best.data(), Isa::kBest);
      uniform_values(9, first, n, base.data(), Isa::kBaseline);
      uniform_values(9, first, n, best32.data(), Isa::kBest);
      uniform_values(9, first, n, base32.data(), Isa::kBaseline);
      for (int64_t j = 0; j < n; ++j) {
        const double v = uniform_at(9, first + static_cast<uint64_t>(j));
        ASSERT_EQ(best[j], v) << first << "+" << j;
        ASSERT_EQ(base[j], v) << first << "+" << j;
        ASSERT_EQ(best32[j], base32[j]) << first << "+" << j;
        ASSERT_EQ(best32[j], std::min(static_cast<float>(v), std::nextafter(1.0f, 0.0f)));
      }
    }
  }
}

TEST(BuiltinOps, RandomUniformDependsOnlyOnTheElementIndex) {
  Shape full{7, 9};
  Chunk whole = run_ok(spec(kRandomUniform, random_uniform_params(5, full, {0, 0}), DType::kFloat64, full));
  Chunk part = run_ok(spec(kRandomUniform, random_uniform_params(5, full, {3, 4}), DType::kFloat64, {4, 5}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(at(part, i * 5 + j), at(whole, (i + 3) * 9 + j + 4));
  for (int64_t i = 0; i < whole.num_elements(); ++i) EXPECT_EQ(at(whole, i), uniform_at(5, i));
  Shape big{1000, 1000};
  Chunk f = run_ok(spec(kRandomUniform, random_uniform_params(1, big, {0, 0}), DType::kFloat32, big));
  double sum = 0;
  for (int64_t i = 0; i < f.num_elements(); ++i) {
    ASSERT_GE(at(f, i), 0.0);
    ASSERT_LT(at(f, i), 1.0);
    sum += at(f, i);
  }
  EXPECT_NEAR(sum / f.num_elements(), 0.5, 0.002);
  // Out of range chunk offsets are refused.
  EXPECT_TRUE(fails(spec(kRandomUniform, random_uniform_params(1, full, {5, 0}), DType::kFloat64, {4, 5}), {}));
}

TEST(BuiltinOps, ElementwiseProgramMatchesDirectArithmetic) {
  Chunk a = make(DType::kFloat64, {3, 500}, [](int64_t i) { return 0.5 + i; });
  Chunk b = make(DType::kInt32, {3, 500}, [](int64_t i) { return i % 7 + 1; });
  // (a + b) * 2 - a / b, then sqrt, as float32
  std::vector<Instruction> p{{Instr::kLoad, 0}, {Instr::kLoad, 1}, {Instr::kAdd}, {Instr::kConst, 2}, {Instr::kMul},
                             {Instr::kLoad, 0}, {Instr::kLoad, 1}, {Instr::kDiv}, {Instr::kSub}, {Instr::kSqrt}};
  Chunk out = run_ok(spec(kElementwise, elementwise_params(DType::kFloat64, p), DType::kFloat32, {3, 500}), {a, b});
  for (int64_t i = 0; i < 1500; ++i) {
    double x = 0.5 + i, y = i % 7 + 1;
    ASSERT_FLOAT_EQ(static_cast<float>(at(out, i)), static_cast<float>(std::sqrt((x + y) * 2 - x / y)));
  }
  // astype through int truncates toward zero; to bool is != 0.
  Chunk neg = make(DType::kFloat64, {4}, [](int64_t i) { return -1.7 + i; });
  std::vector<Instruction> cast{{Instr::kLoad, 0}, {Instr::kCast, static_cast<double>(DType::kInt32)}};
  Chunk c = run_ok(spec(kElementwise, elementwise_params(DType::kFloat64, cast), DType::kFloat64, {4}), {neg});
  EXPECT_EQ(at(c, 0), -1.0);
  EXPECT_EQ(at(c, 2), 0.0);
  std::vector<Instruction> tobool{{Instr::kLoad, 0}, {Instr::kCast, static_cast<double>(DType::kBool)}};
  Chunk bl = run_ok(spec(kElementwise, elementwise_params(DType::kFloat64, tobool), DType::kBool, {4}), {neg});
  EXPECT_EQ(at(bl, 0), 1.0);
}

TEST(BuiltinOps, TransposedLoadsMatchTheTransposeAtEveryShape) {
  // a + 2 * b.T - a.T * c.T, over shapes that end tiles short, in float64 and float32.
  // A float64 input read transposed in float64 goes 8 x 8 through vector registers
  // where the CPU has AVX-512 (whole tiles and 8-multiples), element-wise otherwise.
  const std::vector<std::pair<Shape, DType>> cases = [] {
    std::vector<std::pair<Shape, DType>> all;
    for (Shape shape : {Shape{33, 70}, Shape{1, 5}, Shape{64, 64}, Shape{70, 2}, Shape{100, 33}, Shape{72, 40}})
      for (DType bt : {DType::kInt16, DType::kFloat64}) all.emplace_back(shape, bt);
    return all;
  }();
  for (const auto& [shape, bt] : cases) {
    const int64_t rows = shape[0], cols = shape[1];
    Chunk a = make(DType::kFloat64, {rows, cols}, [](int64_t i) { return 0.25 * i; });
    Chunk b = make(bt, {cols, rows}, [](int64_t i) { return i % 101 - 50; });
    Chunk sq = make(DType::kFloat32, {rows, cols}, [](int64_t i) { return i % 13; });  // read transposed only when square
    std::vector<Instruction> p{{Instr::kLoad, 0}, {Instr::kConst, 2}, {Instr::kLoadT, 1}, {Instr::kMul},
                               {Instr::kAdd}};
    for (DType compute : {DType::kFloat64, DType::kFloat32}) {
      Chunk out = run_ok(spec(kElementwise, elementwise_params(compute, p), DType::kFloat64, shape), {a, b});
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const double want = 0.25 * (r * cols + c) + 2 * ((c * rows + r) % 101 - 50);
          ASSERT_NEAR(at(out, r * cols + c), want, 1e-3 * (1 + std::abs(want))) << shape_to_string(shape);
        }
      }
    }
    if (rows != cols) continue;
    std::vector<Instruction> q{{Instr::kLoadT, 0}, {Instr::kLoadT, 1}, {Instr::kMul}};
    Chunk out = run_ok(spec(kElementwise, elementwise_params(DType::kFloat64, q), DType::kFloat64, shape), {a, sq});
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(at(out, r * cols + c), 0.25 * (c * rows + r) * ((c * rows + r) % 13));
  }
}

// A reduction of an elementwise program, fused (the values are never stored), equals
// the program's output reduced: every kind, axis set, dtype and the transposed path.
TEST(BuiltinOps, FusedExpressionReductionsEqualEvaluateThenReduce) {
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
    bool transposed;
    DType dtype;
  };
  const std::vector<Case> cases{{{37, 70}, {0}, false, DType::kFloat64}, {{37, 70}, {1}, false, DType::kFloat32},
                                {{40, 40}, {0, 1}, true, DType::kFloat64}, {{40, 40}, {1}, true, DType::kInt32},
                                {{3, 5, 700}, {0, 2}, false, DType::kFloat64}, {{3, 5, 700}, {1}, false, DType::kInt64},
                                {{1500}, {0}, false, DType::kBool}, {{}, {}, false, DType::kFloat64}};
  for (const Case& c : cases) {
    const Shape in_shape = c.transposed ? Shape{c.shape[1], c.shape[0]} : c.shape;
    Chunk a = make(DType::kFloat64, c.shape, [](int64_t i) { return std::sin(0.37 * i) * 100; });
    Chunk b = make(DType::kInt16, in_shape, [](int64_t i) { return i % 17 - 8; });
    std::vector<Instruction> p{{Instr::kLoad, 0}, {c.transposed ? Instr::kLoadT : Instr::kLoad, 1}, {Instr::kMul}};
    const std::string program = elementwise_params(DType::kFloat64, p);
    Chunk values = run_ok(spec(kElementwise, program, c.dtype, c.shape), {a, b});
    for (ReduceKind kind : {ReduceKind::kSum, ReduceKind::kMin, ReduceKind::kMax, ReduceKind::kNanMean}) {
      const std::string reduce = reduce_partial_params(kind, c.axes, {});
      Shape keep = c.shape;
      for (int64_t ax : c.axes) keep[ax] = 1;
      if (kind == ReduceKind::kNanMean) keep.insert(keep.begin(), 2);  // sums, counts
      const DType pdt = kind == ReduceKind::kNanMean  ? DType::kFloat64
                        : kind != ReduceKind::kSum     ? c.dtype
                        : dtype_is_float(c.dtype)      ? DType::kFloat64
                                                       : DType::kInt64;
      Chunk want = run_ok(spec(kReducePartial, reduce, pdt, keep), {values});
      TaskSpec fused = spec(kReduceExprPartial, reduce_expr_partial_params(program, c.dtype, c.shape, reduce), want.dtype,
                            want.shape);
      Chunk got = run_ok(fused, {a, b});
      ASSERT_EQ(got.shape, want.shape) << shape_to_string(c.shape);
      for (int64_t i = 0; i < want.num_elements(); ++i) {
        ASSERT_NEAR(at(got, i), at(want, i), 1e-9 * (1 + std::abs(at(want, i))))
            << shape_to_string(c.shape) << " kind " << static_cast<int>(kind) << " at " << i;
      }
    }
  }
}

TEST(BuiltinOps, MalformedProgramsFailTheTask) {
  Chunk a = make(DType::kFloat64, {4}, [](int64_t i) { return i; });
  auto bad = [&](std::vector<Instruction> p, size_t inputs = 1) {
    std::vector<Chunk> in(inputs, a);
    return !fails(spec(kElementwise, elementwise_params(DType::kFloat64, p), DType::kFloat64, {4}), in);
  };
  EXPECT_FALSE(bad({{Instr::kAdd}}));                                   // underflow
  EXPECT_FALSE(bad({{Instr::kLoad, 3}}));                               // missing input
  EXPECT_FALSE(bad({{Instr::kLoad, 0}, {Instr::kLoad, 0}}));            // two values left
  EXPECT_FALSE(bad({{Instr::kLoad, 0}, {Instr::kCast, 99}}));           // bad dtype
  EXPECT_TRUE(fails(spec(kElementwise, "\x09", DType::kFloat64, {4}), {a}));  // truncated
  Chunk wrong = make(DType::kFloat64, {5}, [](int64_t) { return 0; });
  std::vector<Instruction> p{{Instr::kLoad, 0}};
  EXPECT_TRUE(fails(spec(kElementwise, elementwise_params(DType::kFloat64, p), DType::kFloat64, {4}), {wrong}));
  EXPECT_TRUE(fails(spec("nope", "", DType::kFloat64, {4}), {}));
}

// Integer programs: exact, and no divisor or instruction traps the worker.
TEST(BuiltinOps, IntegerProgramsAreExactAndNeverTrap) {
  Chunk a = make(DType::kInt64, {4}, [](int64_t i) { return i == 0 ? 0 : (i == 1 ? -1 : (i == 2 ? 9 : 7)); });
  Chunk low = make(DType::kInt64, {4}, [](int64_t) { return 0; });
  low.mutable_data<int64_t>()[0] = std::numeric_limits<int64_t>::min();
  low.mutable_data<int64_t>()[1] = std::numeric_limits<int64_t>::max();
  auto run = [&](Instr op) {
    std::vector<Instruction> p{{Instr::kLoad, 0}, {Instr::kLoad, 1}, {op}};
    return run_ok(spec(kElementwise, elementwise_params(DType::kInt64, p), DType::kInt64, {4}), {low, a});
  };
  // lowest // -1 and lowest % -1 wrap (NumPy's results), x // 0 and x % 0 give 0.
  Chunk q = run(Instr::kFloorDivide), m = run(Instr::kMod);
  EXPECT_EQ(q.data<int64_t>()[0], 0);
  EXPECT_EQ(q.data<int64_t>()[1], -std::numeric_limits<int64_t>::max());
  EXPECT_EQ(m.data<int64_t>()[1], 0);
  Chunk big = run(Instr::kAdd);
  EXPECT_EQ(big.data<int64_t>()[1], std::numeric_limits<int64_t>::max() - 1);  // exact beyond 2^53
  // A float function or a fractional constant in an integer program is refused.
  auto refused = [&](std::vector<Instruction> p) {
    return fails(spec(kElementwise, elementwise_params(DType::kInt64, p), DType::kInt64, {4}), {a});
  };
  EXPECT_TRUE(refused({{Instr::kLoad, 0}, {Instr::kLoad, 0}, {Instr::kDiv}}));
  EXPECT_TRUE(refused({{Instr::kLoad, 0}, {Instr::kSin}}));
  EXPECT_TRUE(refused({{Instr::kLoad, 0}, {Instr::kConst, 0.5}, {Instr::kAdd}}));
  EXPECT_TRUE(refused({{Instr::kLoad, 0}, {Instr::kConst, -1}, {Instr::kPow}}));  // negative power of integers
}

TEST(BuiltinOps, TransposeAnyPermutation) {
  Chunk a = make(DType::kInt16, {3, 4, 5}, [](int64_t i) { return i; });
  Chunk t = run_ok(spec(kTranspose, transpose_params({2, 0, 1}), DType::kInt16, {5, 3, 4}), {a});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 5; ++k) ASSERT_EQ(at(t, k * 12 + i * 4 + j), at(a, i * 20 + j * 5 + k));
  Chunk m = make(DType::kFloat64, {37, 70}, [](int64_t i) { return i; });
  Chunk mt = run_ok(spec(kTranspose, transpose_params({1, 0}), DType::kFloat64, {70, 37}), {m});
  for (int64_t i = 0; i < 37; ++i)
    for (int64_t j = 0; j < 70; ++j) ASSERT_EQ(at(mt, j * 37 + i), at(m, i * 70 + j));
  EXPECT_TRUE(fails(spec(kTranspose, transpose_params({0, 0, 1}), DType::kInt16, {3, 3, 4}), {a}));
  EXPECT_TRUE(fails(spec(kTranspose, transpose_params({1, 0, 2}), DType::kInt16, {3, 4, 5}), {a}));
}

TEST(BuiltinOps, PartialsCombinedEqualADirectReduction) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> values(6 * 10);
  for (auto& v : values) v = u(rng);
  // Two chunks of 3 x 10 along axis 0; reduce over axis 0 with moments.
  Chunk c0 = make(DType::kFloat64, {3, 10}, [&](int64_t i) { return values[i]; });
  Chunk c1 = make(DType::kFloat64, {3, 10}, [&](int64_t i) { return values[30 + i]; });
  auto partial = [&](const Chunk& c, ReduceKind kind, DType pdt, Shape pshape) {
    return run_ok(spec(kReducePartial, reduce_partial_params(kind, {0}, {}), pdt, pshape), {c});
  };
  Chunk p0 = partial(c0, ReduceKind::kMoments, DType::kFloat64, {3, 1, 10});
  Chunk p1 = partial(c1, ReduceKind::kMoments, DType::kFloat64, {3, 1, 10});
  Chunk var = run_ok(spec(kReduceCombine, reduce_combine_params(ReduceKind::kMoments, {Finalize::kVar, 0, 1}),
                          DType::kFloat64, {10}), {p0, p1});
  Chunk s0 = partial(c0, ReduceKind::kSum, DType::kFloat64, {1, 10});
  Chunk s1 = partial(c1, ReduceKind::kSum, DType::kFloat64, {1, 10});
  Chunk mean = run_ok(spec(kReduceCombine, reduce_combine_params(ReduceKind::kSum, {Finalize::kMean, 6, 0}),
                           DType::kFloat32, {10}), {s0, s1});
  Chunk mx0 = partial(c0, ReduceKind::kMax, DType::kFloat64, {1, 10});
  Chunk mx1 = partial(c1, ReduceKind::kMax, DType::kFloat64, {1, 10});
  Chunk mx = run_ok(spec(kReduceCombine, reduce_combine_params(ReduceKind::kMax, {Finalize::kConvert}), DType::kFloat64,
                         {10}), {mx0, mx1});
  for (int64_t j = 0; j < 10; ++j) {
    double m = 0, q = 0, hi = -2;
    for (int i = 0; i < 6; ++i) m += values[i * 10 + j] / 6;
    for (int i = 0; i < 6; ++i) {
      q += (values[i * 10 + j] - m) * (values[i * 10 + j] - m);
      hi = std::max(hi, values[i * 10 + j]);
    }
    EXPECT_NEAR(at(var, j), q / 5, 1e-12);
    EXPECT_FLOAT_EQ(static_cast<float>(at(mean, j)), static_cast<float>(m));
    EXPECT_EQ(at(mx, j), hi);
  }
}

// nanmean's partials: the sum and the count of the values that are not NaN, in one
// task or as partials combined, fused with an elementwise program or not; an infinity
// counts (and two of opposite sign make NaN), a slice of NaN only is NaN.
TEST(BuiltinOps, NanMeanSkipsNaNAsNumPyDoes) {
  const double inf = std::numeric_limits<double>::infinity();
  // 4 x 6, reduced over axis 0: column j's values; column 3 all NaN, 4 with +inf, 5 with +-inf.
  const std::vector<double> v{1,   2, NAN, NAN, 5,   inf,  //
                              3,   NAN, 4, NAN, 1,   -inf,  //
                              NAN, 6, 8,   NAN, inf, 1,     //
                              5,   2, 0,   NAN, 2,   2};
  const std::vector<double> want{3, 10.0 / 3, 4, NAN, inf, NAN};
  Chunk all = make(DType::kFloat64, {4, 6}, [&](int64_t i) { return v[i]; });
  Chunk top = make(DType::kFloat64, {2, 6}, [&](int64_t i) { return v[i]; });
  Chunk bottom = make(DType::kFloat64, {2, 6}, [&](int64_t i) { return v[12 + i]; });
  auto check = [&](const Chunk& got, const char* how) {
    for (int64_t j = 0; j < 6; ++j) {
      if (std::isnan(want[j])) {
        EXPECT_TRUE(std::isnan(at(got, j))) << how << " column " << j;
      } else if (std::isinf(want[j])) {
        EXPECT_EQ(at(got, j), want[j]) << how << " column " << j;
      } else {
        EXPECT_NEAR(at(got, j), want[j], 1e-6 * want[j]) << how << " column " << j;  // float32 for the fused one
      }
    }
  };
  check(run_ok(spec(kReducePartial, reduce_partial_params(ReduceKind::kNanMean, {0}, {Finalize::kMean}),
                    DType::kFloat64, {6}), {all}),
        "one task");
  auto partial = [&](const Chunk& c) {
    return run_ok(spec(kReducePartial, reduce_partial_params(ReduceKind::kNanMean, {0}, {}), DType::kFloat64, {2, 1, 6}),
                  {c});
  };
  check(run_ok(spec(kReduceCombine, reduce_combine_params(ReduceKind::kNanMean, {Finalize::kMean}), DType::kFloat64,
                    {6}), {partial(top), partial(bottom)}),
        "combined");
  // Fused: the program loads the values, as float32.
  const std::string program = elementwise_params(DType::kFloat64, {{Instr::kLoad, 0}});
  Chunk fused = run_ok(spec(kReduceExprPartial,
                            reduce_expr_partial_params(program, DType::kFloat32, {4, 6},
                                                       reduce_partial_params(ReduceKind::kNanMean, {0}, {Finalize::kMean})),
                            DType::kFloat32, {6}),
                       {all});
  check(fused, "fused");
  // The wrong finalising step for the kind fails the task.
  EXPECT_TRUE(fails(spec(kReducePartial, reduce_partial_params(ReduceKind::kNanMean, {0}, {Finalize::kVar}),
                         DType::kFloat64, {6}), {all}));
}

// A fused reduction over the leading axes walks the block in strips of columns down
// every row; the masked values (a cloud mask: where(a > 0.2 & isfinite(b), b, NaN))
// and their sums and counts must be those of the plain loop, with a strip cut short at
// the end of the row, in float32 and float64, and for the sum as for nanmean.
TEST(BuiltinOps, FusedReductionsOverLeadingAxesMatchThePlainLoop) {
  const Shape shape{3, 2, 9001};  // 18,002 kept values: two whole strips and a short one
  const int64_t k = 2 * 9001, n = 3 * k;
  auto value_a = [](int64_t i) { return static_cast<double>((i * 7919) % 1000) / 1000.0; };
  auto value_b = [](int64_t i) { return i % 13 == 0 ? NAN : i % 17 == 0 ? INFINITY : static_cast<double>(i % 101) - 50; };
  const std::vector<Instruction> mask_program{
      {Instr::kLoad, 0}, {Instr::kConst, 0.2}, {Instr::kGreater, 0}, {Instr::kLoad, 1}, {Instr::kIsFinite, 0},
      {Instr::kLogicalAnd, 0}, {Instr::kLoad, 1}, {Instr::kConst, NAN}, {Instr::kWhere, 0}};
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    Chunk a = make(dt, shape, value_a), b = make(dt, shape, value_b);
    std::vector<double> sum(k, 0), cnt(k, 0);
    for (int64_t i = 0; i < n; ++i) {
      const double av = dt == DType::kFloat32 ? static_cast<float>(value_a(i)) : value_a(i);
      const double bv = dt == DType::kFloat32 ? static_cast<float>(value_b(i)) : value_b(i);
      const double threshold = dt == DType::kFloat32 ? static_cast<float>(0.2) : 0.2;
      if (av > threshold && std::isfinite(bv)) {
        sum[i % k] += bv;
        cnt[i % k] += 1;
      }
    }
    const std::string program = elementwise_params(dt, mask_program);
    Chunk mean = run_ok(spec(kReduceExprPartial,
                             reduce_expr_partial_params(program, dt, shape,
                                                        reduce_partial_params(ReduceKind::kNanMean, {0}, {Finalize::kMean})),
                             dt, {2, 9001}),
                        {a, b});
    // The sum over the first two axes: 9001 kept values, rows of two steps.
    Chunk total = run_ok(spec(kReduceExprPartial,
                              reduce_expr_partial_params(elementwise_params(dt, {{Instr::kLoad, 0}}), dt, shape,
                                                         reduce_partial_params(ReduceKind::kSum, {0, 1}, {Finalize::kConvert})),
                              dt, {9001}),
                         {a});
    for (int64_t j = 0; j < k; ++j) {
      if (cnt[j] == 0) {
        ASSERT_TRUE(std::isnan(at(mean, j))) << dtype_name(dt) << " element " << j;
      } else {
        const double want = sum[j] / cnt[j];
        ASSERT_NEAR(at(mean, j), want, 1e-6 * std::max(1.0, std::abs(want))) << dtype_name(dt) << " element " << j;
      }
    }
    for (int64_t j = 0; j < 9001; ++j) {
      double want = 0;
      for (int64_t r = 0; r < 6; ++r) want += dt == DType::kFloat32 ? static_cast<float>(value_a(r * 9001 + j)) : value_a(r * 9001 + j);
      ASSERT_NEAR(at(total, j), want, 1e-5) << dtype_name(dt) << " element " << j;
    }
  }
}

// argmax over the rows of a 7 x 300 float32 block with ties and NaN (the first NaN
// wins): in one task through the tiled walk (reduced axis first), through the row walk
// (the transposed block, reduced axis last), and as two partials of either key width,
// combined.
TEST(BuiltinOps, ArgPartialsOfEveryLayoutAndWidthAgree) {
  const int64_t rows = 7, cols = 300;
  auto value = [](int64_t r, int64_t c) { return (r * c + r * 7) % 53 == 0 ? NAN : static_cast<double>((r * 37 + c) % 5); };
  std::vector<int64_t> want(cols);
  for (int64_t c = 0; c < cols; ++c) {
    int64_t w = 0;
    for (int64_t r = 1; r < rows; ++r) {
      const double v = value(r, c), b = value(w, c);
      if (!std::isnan(b) && (std::isnan(v) || v > b)) w = r;
    }
    want[c] = w;
  }
  Chunk a = make(DType::kFloat32, {rows, cols}, [&](int64_t i) { return value(i / cols, i % cols); });
  Chunk t = make(DType::kFloat32, {cols, rows}, [&](int64_t i) { return value(i % rows, i / rows); });
  auto final_params = [](int64_t axis) {
    return reduce_partial_params(ReduceKind::kArgMax, {axis}, {Finalize::kIndex}, 0, {1});
  };
  Chunk tiled = run_ok(spec(kReducePartial, final_params(0), DType::kInt64, {cols}), {a});
  Chunk by_row = run_ok(spec(kReducePartial, final_params(1), DType::kInt64, {cols}), {t});
  Chunk top = make(DType::kFloat32, {4, cols}, [&](int64_t i) { return value(i / cols, i % cols); });
  Chunk bottom = make(DType::kFloat32, {3, cols}, [&](int64_t i) { return value(4 + i / cols, i % cols); });
  for (DType pdt : {DType::kInt32, DType::kInt64}) {
    auto partial = [&](const Chunk& c, int64_t base) {
      return run_ok(spec(kReducePartial, reduce_partial_params(ReduceKind::kArgMax, {0}, {}, base, {1}), pdt, {2, 1, cols}),
                    {c});
    };
    Chunk combined = run_ok(spec(kReduceCombine, reduce_combine_params(ReduceKind::kArgMax, {Finalize::kIndex}),
                                 DType::kInt64, {cols}), {partial(bottom, 4), partial(top, 0)});
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(at(combined, c), want[c]) << "column " << c;
  }
  for (int64_t c = 0; c < cols; ++c) {
    ASSERT_EQ(at(tiled, c), want[c]) << "column " << c;
    ASSERT_EQ(at(by_row, c), want[c]) << "column " << c;
  }
  // Keys of 8-byte values do not fit int32 partials.
  Chunk d = make(DType::kFloat64, {rows, cols}, [&](int64_t i) { return i; });
  EXPECT_TRUE(fails(spec(kReducePartial, reduce_partial_params(ReduceKind::kArgMax, {0}, {}, 0, {1}), DType::kInt32,
                         {2, 1, cols}), {d}));
}

TEST(BuiltinOps, ReduceOverLastAndSeveralAxes) {
  Chunk a = make(DType::kInt32, {4, 5, 6}, [](int64_t i) { return i; });
  Chunk s = run_ok(spec(kReducePartial, reduce_partial_params(ReduceKind::kSum, {2}, {Finalize::kConvert}), DType::kInt64,
                        {4, 5}), {a});
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(at(s, i), 6 * 6 * i + 15);
  Chunk s02 = run_ok(spec(kReducePartial, reduce_partial_params(ReduceKind::kMin, {0, 2}, {Finalize::kConvert}),
                          DType::kInt32, {5}), {a});
  for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(at(s02, j), j * 6);
  Chunk all = run_ok(spec(kReducePartial, reduce_partial_params(ReduceKind::kSum, {0, 1, 2}, {Finalize::kMean, 120}),
                          DType::kFloat64, {}), {a});
  EXPECT_DOUBLE_EQ(at(all, 0), 59.5);
  // Wrong finalize for the kind, unsorted axes, out-of-range axes.
  EXPECT_TRUE(fails(spec(kReducePartial, reduce_partial_params(ReduceKind::kSum, {0}, {Finalize::kVar}),
                         DType::kFloat64, {5, 6}), {a}));
  EXPECT_TRUE(fails(spec(kReducePartial, reduce_partial_params(ReduceKind::kSum, {2, 0}, {}), DType::kInt64,
                         {1, 5, 1}), {a}));
  EXPECT_TRUE(fails(spec(kReducePartial, reduce_partial_params(ReduceKind::kSum, {3}, {}), DType::kInt64,
                         {4, 5, 6}), {a}));
}

std::string matmul_blocks(int64_t k) {
  TensordotParams p;
  p.a_labels = {0, 1};
  p.b_labels = {1, 2};
  p.out_labels = {0, 2};
  p.counts = {k};
  return tensordot_params(p);
}

TEST(BuiltinOps, TensordotSumsBlockProducts) {
  Chunk a0 = make(DType::kFloat64, {3, 2}, [](int64_t i) { return i + 1; });
  Chunk a1 = make(DType::kFloat64, {3, 4}, [](int64_t i) { return 2 * i - 3; });
  Chunk b0 = make(DType::kFloat64, {2, 5}, [](int64_t i) { return i % 3; });
  Chunk b1 = make(DType::kFloat32, {4, 5}, [](int64_t i) { return 1.0 / (i + 1); });
  Chunk c = run_ok(spec(kTensordot, matmul_blocks(2), DType::kFloat64, {3, 5}), {a0, a1, b0, b1});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      double e = 0;
      for (int64_t k = 0; k < 2; ++k) e += at(a0, i * 2 + k) * at(b0, k * 5 + j);
      for (int64_t k = 0; k < 4; ++k) e += at(a1, i * 4 + k) * at(b1, k * 5 + j);
      EXPECT_NEAR(at(c, i * 5 + j), e, 1e-6);
    }
  EXPECT_TRUE(fails(spec(kTensordot, matmul_blocks(2), DType::kFloat64, {3, 5}), {a0, a1, b1, b0}));
  EXPECT_TRUE(fails(spec(kTensordot, matmul_blocks(3), DType::kFloat64, {3, 5}), {a0, a1, b0, b1}));
}

TEST(BuiltinOps, TensordotOfIntegersWrapsAsNumpys) {
  // int32: 70000 * 70000 * 2 wraps modulo 2^32, as NumPy's int32 matmul does.
  Chunk a = make(DType::kInt32, {1, 2}, [](int64_t) { return 70000; });
  Chunk b = make(DType::kInt32, {2, 1}, [](int64_t) { return 70000; });
  Chunk c = run_ok(spec(kTensordot, matmul_blocks(1), DType::kInt32, {1, 1}), {a, b});
  EXPECT_EQ(c.data<int32_t>()[0], static_cast<int32_t>(static_cast<uint32_t>(9800000000ull)));
}

TEST(BuiltinOps, TensordotPairsBlocksByLabel) {
  // out[i, j] = sum_{x, y} a[i, x, y] * b[y, j, x]: A lists its blocks in (x, y) order,
  // B in (y, x) order; two blocks along x and one along y.
  Chunk a0 = make(DType::kFloat64, {2, 1, 3}, [](int64_t i) { return i + 1; });
  Chunk a1 = make(DType::kFloat64, {2, 2, 3}, [](int64_t i) { return i - 4; });
  Chunk b0 = make(DType::kFloat64, {3, 2, 1}, [](int64_t i) { return i * 0.5; });
  Chunk b1 = make(DType::kFloat64, {3, 2, 2}, [](int64_t i) { return 1 - i; });
  TensordotParams p;
  p.a_labels = {0, 1, 2};
  p.b_labels = {2, 3, 1};
  p.out_labels = {3, 0};  // the output transposed: (j, i)
  p.counts = {2, 1};
  Chunk c = run_ok(spec(kTensordot, tensordot_params(p), DType::kFloat64, {2, 2}), {a0, a1, b0, b1});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      double e = 0;
      for (int64_t y = 0; y < 3; ++y) {
        e += at(a0, i * 3 + y) * at(b0, y * 2 + j);
        for (int64_t x = 0; x < 2; ++x) e += at(a1, (i * 2 + x) * 3 + y) * at(b1, (y * 2 + j) * 2 + x);
      }
      EXPECT_NEAR(at(c, j * 2 + i), e, 1e-12);
    }
}

TEST(BuiltinOps, AssembleRechunksBlocks) {
  // A 6 x 6 array in 3 x 3 blocks, assembled into the 2 x 5 block at (2, 1).
  auto value = [](int64_t r, int64_t c) { return r * 10.0 + c; };
  std::vector<Chunk> in;
  std::vector<std::vector<int64_t>> offs;
  for (int64_t bi = 0; bi < 2; ++bi)
    for (int64_t bj = 0; bj < 2; ++bj) {
      in.push_back(make(DType::kFloat32, {3, 3}, [&](int64_t i) { return value(bi * 3 + i / 3, bj * 3 + i % 3); }));
      offs.push_back({bi * 3, bj * 3});
    }
  Chunk out = run_ok(spec(kAssemble, assemble_params({2, 1}, offs), DType::kFloat64, {2, 5}), in);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(at(out, i * 5 + j), value(2 + i, 1 + j));
  // Inputs that leave a hole are refused.
  std::vector<Chunk> some(in.begin(), in.begin() + 2);
  std::vector<std::vector<int64_t>> some_offs(offs.begin(), offs.begin() + 2);
  EXPECT_TRUE(fails(spec(kAssemble, assemble_params({2, 1}, some_offs), DType::kFloat64, {2, 5}), some));
}

TEST(BuiltinOps, CoordinateHoldsTheIndexAlongItsAxis) {
  Chunk c = run_ok(spec(kCoordinate, coordinate_params(1, 10), DType::kInt32, {2, 3, 2}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 2; ++k) EXPECT_EQ(at(c, i * 6 + j * 2 + k), 10 + j);
  EXPECT_TRUE(fails(spec(kCoordinate, coordinate_params(3, 0), DType::kInt32, {2, 3, 2}), {}));
}

TEST(BuiltinOps, TrailingOrMissingParameterBytesAreRefused) {
  EXPECT_TRUE(fails(spec(kFill, fill_params(1) + "x", DType::kFloat64, {2}), {}));
  EXPECT_TRUE(fails(spec(kFill, "", DType::kFloat64, {2}), {}));
  std::string huge = ParamWriter().u8(TransposeParams::kVersion).u64(1ull << 60).take();
  EXPECT_TRUE(fails(spec(kTranspose, huge, DType::kFloat64, {2}), {}));
}

TEST(BuiltinOps, ParametersOfAnotherVersionAreRefusedByName) {
  std::string params = fill_params(1);
  params[0] = static_cast<char>(FillParams::kVersion + 1);
  auto r = run_kernel(spec(kFill, params, DType::kFloat64, {2}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fill: parameters of version 2, this build reads 1"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace rsdat::ops
