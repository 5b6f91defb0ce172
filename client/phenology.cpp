#include "rsdat/phenology.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/chunk.hpp"
#include "client/array_internal.hpp"
#include "ops/phenology.hpp"
#include "rsdat/scan.hpp"
#include "rsdat/shape.hpp"
#include "rsdat/window.hpp"

namespace rsdat {

namespace {

void check_same_shapes(const char* op, const Array& tmin, const Array& tmax, const Array& dayl) {
  if (tmin.shape() != tmax.shape() || tmin.shape() != dayl.shape()) {
    throw std::invalid_argument(std::string(op) + ": tmin, tmax and dayl differ in shape: " +
                                shape_to_string(tmin.shape()) + ", " + shape_to_string(tmax.shape()) + ", " +
                                shape_to_string(dayl.shape()));
  }
}

// One coefficient of each plant, as a (3, 1, 1, 1) array to broadcast against
// (plant, time, y, x).
template <size_t N>
Array per_plant(const double (&coefficients)[3][N], size_t which) {
  xt::xarray<double> v = xt::xarray<double>::from_shape({3, 1, 1, 1});
  for (size_t p = 0; p < 3; ++p) v(p, 0, 0, 0) = coefficients[p][which];
  return from_array(v, {-1, -1, -1, -1});
}

// The leaf model's (a, b, c, e) and the bloom model's (agdh, mds0) coefficients.
constexpr double kLeafCoefficients[3][4] = {
    {3.306, 13.878, 0.201, 0.153},  // lilac
    {4.266, 20.899, 0.000, 0.248},  // arnold red
    {2.802, 21.433, 0.266, 0.000},  // zabelii
};
constexpr double kBloomCoefficients[3][2] = {{0.116, -23.934}, {0.127, -24.825}, {0.096, -11.368}};

// The first day (1-based) along axis 1 of a (3, days, y, x) condition, NaN where none:
// one reduction, the largest of days - d over the days d where it holds.
Array first_day_where(const Array& condition, const Array& mds0, double days) {
  const Array score = where(condition, days - mds0, 0.0).max({1});
  return where(score > 0.0, days - score + 1.0, std::numeric_limits<double>::quiet_NaN());
}

// The three plants' days and their mean rounded (NaN if one is NaN), NaN where nodata.
Array with_mean(const Array& days3, const Array& nodata) {
  const Array mean = round(days3.mean({0}, {.keepdims = true}));
  return where(nodata, std::numeric_limits<double>::quiet_NaN(), concatenate({days3, mean}, 0));
}

// The "spring_index_chain" kernel on every spatial block of the inputs (one block along
// time): (12, y, x), the leaf days in rows 0-3, the agdh in rows 4-7 and the bloom days
// in rows 8-11.
Array leaf_chain(const Array& tmin, const Array& tmax, const Array& dayl, double base_f) {
  using namespace detail;
  const Node& in = need(tmin.node());
  auto n = make_node("spring_index_chain", {12, in.shape[1], in.shape[2]}, {{12}, in.chunks[1], in.chunks[2]},
                     DType::kFloat64);
  for (const Array& a : {tmin, tmax, dayl}) {
    n->inputs.push_back(a.chunks() == in.chunks ? a.node() : a.rechunk(in.chunks).node());
  }
  const std::string params = encode_params(ops::SpringIndexChainParams{base_f});
  n->lower = [params](const Node& self, const BlockIndex& blk, TaskSpec& t) {
    for (const NodePtr& src : self.inputs) t.deps.push_back(key_of(*src, {0, blk[1], blk[2]}));
    t.op = ops::kSpringIndexChain;
    t.params = params;
  };
  return Array(n);
}

}  // namespace

Array growing_degree_hours(const Array& tmin, const Array& tmax, const Array& dayl, double base_f) {
  check_same_shapes("growing_degree_hours", tmin, tmax, dayl);
  if (!std::isfinite(base_f)) throw std::invalid_argument("growing_degree_hours: the base temperature is not finite");
  return map_blocks(ops::kGrowingDegreeHours, {tmin, tmax, dayl}, DType::kFloat64,
                    encode_params(ops::GrowingDegreeHoursParams{base_f}));
}

namespace {

// spring_index and spring_index_leaf, errors naming `op`.
SpringIndex spring_index_model(const char* op, const Array& tmin, const Array& tmax, const Array& dayl,
                               double base_f) {
  check_same_shapes(op, tmin, tmax, dayl);
  if (tmin.ndim() != 3) {
    throw std::invalid_argument(std::string(op) + ": the inputs must be 3-D (time, y, x), not " +
                                shape_to_string(tmin.shape()));
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const int64_t days = tmin.shape()[0];
  if (days == 0) throw std::invalid_argument(std::string(op) + ": no days");
  if (!std::isfinite(base_f)) throw std::invalid_argument(std::string(op) + ": the base temperature is not finite");

  if (tmin.chunks()[0].size() == 1) {
    // Every day in one block: the whole model in one task per spatial block.
    const Array all = leaf_chain(tmin, tmax, dayl, base_f);
    return {view(all, range(0, 4)).astype(DType::kFloat32), view(all, range(8, 12)).astype(DType::kFloat32),
            view(all, range(4, 8))};
  }
  const Array gdh = growing_degree_hours(tmin, tmax, dayl, base_f);
  const Array nodata = (isnan(tmin) | isnan(tmax) | isnan(dayl)).any({0});
  // Seven leading days of day 0, then trailing windows; the last `days` of each kept.
  const Array padded = pad(gdh, {{7, 0}, {0, 0}, {0, 0}}, "edge");
  auto trailing_sum = [&](int64_t window) { return view(rolling(padded, 0, window).sum(), range(7, _)); };
  const Array dde2 = trailing_sum(3);
  const Array dd57 = trailing_sum(8) - trailing_sum(5);
  const Array synop = cumsum(dde2 >= 637.0, 0);
  // mds0 along time, with gdh's time chunks, broadcast over y and x.
  const Array mds0 = coordinate({days, 1, 1}, {gdh.chunks()[0][0], 1, 1}, 0, DType::kFloat64);
  const double n = static_cast<double>(days);

  // (3, time, y, x): the plants along a new first axis.
  auto leaf_coefficient = [](size_t which) { return per_plant(kLeafCoefficients, which); };
  const Array mdsum1 = leaf_coefficient(0) * mds0 + leaf_coefficient(1) * synop + leaf_coefficient(2) * dde2 +
                       leaf_coefficient(3) * dd57;
  const Array leaf3 = first_day_where(mdsum1 >= 999.5, mds0, n);
  const Array leaf = with_mean(leaf3, nodata);

  // (4, time, y, x) summed over time: gdh from the first-leaf day (0-based leaf - 1) on.
  const Array first_day = expand_dims(leaf - 1.0, 1);
  const Array after = where(mds0 >= first_day, gdh, 0.0).sum({1});

  // Bloom: the growing-degree hours accumulated from the first-leaf day, per day.
  const Array leaf_day = expand_dims(leaf3 - 1.0, 1);  // (3, 1, y, x), 0-based
  const Array grown = mds0 >= leaf_day;                // false where there is no leaf (NaN)
  const Array agdh = cumsum(where(grown, gdh, 0.0), 1);
  const Array bloomed = grown & (per_plant(kBloomCoefficients, 0) * agdh +
                                     per_plant(kBloomCoefficients, 1) * (mds0 - leaf_day) >
                                 999.5);
  const Array bloom = with_mean(first_day_where(bloomed, mds0, n), nodata);
  return {leaf.astype(DType::kFloat32), bloom.astype(DType::kFloat32), where(isnan(leaf), nan, after)};
}

}  // namespace

SpringIndex spring_index(const Array& tmin, const Array& tmax, const Array& dayl, double base_f) {
  return spring_index_model("spring_index", tmin, tmax, dayl, base_f);
}

SpringIndexLeaf spring_index_leaf(const Array& tmin, const Array& tmax, const Array& dayl, double base_f) {
  SpringIndex si = spring_index_model("spring_index_leaf", tmin, tmax, dayl, base_f);
  return {si.first_leaf, si.agdh_after_leaf};
}

}  // namespace rsdat
