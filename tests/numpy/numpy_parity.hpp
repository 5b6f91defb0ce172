// A harness that checks rsdat results against NumPy on the same inputs: a test adds
// cases (an rsdat Array and the NumPy expression that should give the same values, in
// terms of named input arrays), then check() computes everything on the cluster, writes
// the inputs and results as .npy files with a manifest, and runs tests/numpy/compare.py
// under Debian's /usr/bin/python3, which evaluates each expression with NumPy and
// compares dtype, shape and values.
//
//   NumpyParity p("reductions");
//   auto a = p.input("a", random::uniform({6, 8}, {4, 3}, 1));
//   p.add("prod_axis0", a.prod({0}), "np.prod(a, axis=0)");
//   EXPECT_TRUE(p.check()) << p.report();
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rsdat/rsdat.hpp"

namespace rsdat::test_support {

// Writes `data` (C order) as a NumPy .npy file (format 1.0).
inline void write_npy(const std::string& path, DType dtype, const Shape& shape, const void* data) {
  static const std::map<DType, const char*> descr = {
      {DType::kBool, "|b1"},  {DType::kInt8, "|i1"},   {DType::kInt16, "<i2"},  {DType::kInt32, "<i4"},
      {DType::kInt64, "<i8"}, {DType::kUInt8, "|u1"},  {DType::kUInt16, "<u2"}, {DType::kUInt32, "<u4"},
      {DType::kUInt64, "<u8"}, {DType::kFloat32, "<f4"}, {DType::kFloat64, "<f8"}};
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string header = std::string("{'descr': '") + descr.at(dtype) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f << header;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n * static_cast<int64_t>(dtype_size(dtype))));
}

class NumpyParity {
 public:
  explicit NumpyParity(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / ("rsdat-numpy-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~NumpyParity() { std::filesystem::remove_all(dir_); }

  // Names an input: NumPy expressions refer to it by `name`; its values are computed
  // on the cluster once.
  Array input(const std::string& name, Array a) {
    inputs_[name] = a;
    return a;
  }
  // rsdat's `result` should equal NumPy's `numpy` (within rtol and atol, NaN equal).
  void add(const std::string& name, Array result, const std::string& numpy, double rtol = 1e-12, double atol = 0) {
    cases_.push_back({name, std::move(result), numpy, rtol, atol});
  }
  // Computes every input and case and compares them with NumPy: true when all agree.
  bool check() {
    nlohmann::json manifest = nlohmann::json::array();
    nlohmann::json inputs = nlohmann::json::object();
    for (auto& [name, a] : inputs_) inputs[name] = save(a, name + ".npy");
    for (auto& c : cases_) {
      manifest.push_back({{"name", c.name}, {"numpy", c.numpy}, {"inputs", inputs},
                          {"result", save(c.result, "case-" + c.name + ".npy")}, {"rtol", c.rtol}, {"atol", c.atol}});
    }
    const std::string path = (dir_ / "manifest.json").string();
    std::ofstream(path) << manifest.dump(1);
    const std::string cmd = "/usr/bin/python3 " + std::string(RSDAT_SOURCE_DIR) + "/tests/numpy/compare.py " + path + " 2>&1";
    report_.clear();
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return false;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) report_.append(buf, n);
    const int status = ::pclose(p);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  const std::string& report() const { return report_; }

 private:
  struct Case {
    std::string name;
    Array result;
    std::string numpy;
    double rtol, atol;
  };
  std::string save(const Array& a, const std::string& file) {
    visit_dtype(a.dtype(), [&](auto t) {
      using T = decltype(t);
      auto values = a.compute<T>();
      write_npy((dir_ / file).string(), a.dtype(), a.shape(), values.data());
    });
    return file;
  }
  std::filesystem::path dir_;
  std::map<std::string, Array> inputs_;
  std::vector<Case> cases_;
  std::string report_;
};

}  // namespace rsdat::test_support
