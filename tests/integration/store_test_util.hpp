// What the store tests (WebDAV, S3, STAC) share: files read and written whole, the values
// tests/zarr/store_check.py expects, and comparisons where NaN equals NaN.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "io/store.hpp"
#include "rsdat/rsdat.hpp"

namespace rsdat::test_support {

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The (5, 9, 7) values store_check.py expects: i * 0.5 - 3, NaN where i % 11 == 0.
inline xt::xarray<double> v_values() {
  xt::xarray<double> v = xt::zeros<double>({5, 9, 7});
  for (size_t i = 0; i < v.size(); ++i) v.data()[i] = i % 11 == 0 ? std::nan("") : i * 0.5 - 3;
  return v;
}

// Equal shapes and elements, NaN where the other has NaN.
inline bool same(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  if (a.shape() != b.shape()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a.data()[i], y = b.data()[i];
    if (!(x == y || (std::isnan(x) && std::isnan(y)))) return false;
  }
  return true;
}

// A read's bytes as text, or its error between angle brackets (for EXPECT_EQ).
inline std::string text_of(const Result<store::Bytes>& b) {
  return b.ok() ? std::string(b->view()) : "<" + b.status().message() + ">";
}

}  // namespace rsdat::test_support
