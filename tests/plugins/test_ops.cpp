// Kernels for the tests, loaded by rsdat-worker --plugin: one that works, one that
// kills the worker running it (as a kernel crashing the process would), one that
// counts its runs in a file (to tell whether anything was computed twice), one that
// takes its time (a computation still running when something else happens), and a
// neighbourhood kernel for map_overlap.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>
#include <stdexcept>
#include <string>
#include <thread>

#include "ops/op_registry.hpp"

namespace {

rsdat::Chunk add_one(rsdat::KernelContext& ctx) {
  if (ctx.inputs.size() != 1) throw std::invalid_argument("test_add_one: one input");
  const rsdat::Chunk& in = ctx.inputs[0];
  rsdat::Chunk out = rsdat::Chunk::allocate(rsdat::DType::kFloat64, in.shape);
  for (int64_t i = 0; i < in.num_elements(); ++i) out.mutable_data<double>()[i] = in.data<double>()[i] + 1.0;
  return out;
}

// Params: the path of a file that gets one byte per run. Returns its input.
rsdat::Chunk count_runs(rsdat::KernelContext& ctx) {
  if (ctx.inputs.size() != 1) throw std::invalid_argument("test_count_runs: one input");
  const std::string path(ctx.params.str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0 || ::write(fd, "x", 1) != 1) throw std::runtime_error("test_count_runs: cannot write " + path);
  ::close(fd);
  const rsdat::Chunk& in = ctx.inputs[0];
  rsdat::Chunk out = rsdat::Chunk::allocate(in.dtype, in.shape);
  std::memcpy(out.mutable_bytes(), in.bytes(), in.nbytes());
  return out;
}

// Params: milliseconds to sleep, as text. Returns its input.
rsdat::Chunk sleep_then_copy(rsdat::KernelContext& ctx) {
  if (ctx.inputs.size() != 1) throw std::invalid_argument("test_sleep: one input");
  std::this_thread::sleep_for(std::chrono::milliseconds(std::stol(std::string(ctx.params.str()))));
  const rsdat::Chunk& in = ctx.inputs[0];
  rsdat::Chunk out = rsdat::Chunk::allocate(in.dtype, in.shape);
  std::memcpy(out.mutable_bytes(), in.bytes(), in.nbytes());
  return out;
}

// Params: a radius per axis (i64s). Each element becomes the sum of the float64 block's
// elements within the radius along every axis, those outside the block counting as 0
// (with a halo at least as deep as the radius: scipy.ndimage.uniform_filter times the
// box's size, in the halo's boundary mode).
rsdat::Chunk box_sum(rsdat::KernelContext& ctx) {
  if (ctx.inputs.size() != 1) throw std::invalid_argument("test_box_sum: one input");
  const rsdat::Chunk& in = ctx.inputs[0];
  const std::vector<int64_t> radius = ctx.params.i64s();
  const size_t nd = in.shape.size();
  if (radius.size() != nd || in.dtype != rsdat::DType::kFloat64) throw std::invalid_argument("test_box_sum: bad input");
  rsdat::Chunk out = rsdat::Chunk::allocate(rsdat::DType::kFloat64, in.shape);
  std::vector<int64_t> strides(nd, 1);
  for (size_t d = nd; d-- > 1;) strides[d - 1] = strides[d] * in.shape[d];
  std::vector<int64_t> idx(nd, 0), off(nd);
  for (int64_t i = 0; i < in.num_elements(); ++i) {
    for (size_t d = 0; d < nd; ++d) idx[d] = (i / strides[d]) % in.shape[d];
    double s = 0;
    for (size_t d = 0; d < nd; ++d) off[d] = -radius[d];
    while (true) {
      int64_t at = 0;
      bool inside = true;
      for (size_t d = 0; d < nd; ++d) {
        const int64_t k = idx[d] + off[d];
        inside = inside && k >= 0 && k < in.shape[d];
        at += k * strides[d];
      }
      if (inside) s += in.data<double>()[at];
      size_t d = nd;
      while (d-- > 0) {
        if (++off[d] <= radius[d]) break;
        off[d] = -radius[d];
      }
      if (d == static_cast<size_t>(-1)) break;
    }
    out.mutable_data<double>()[i] = s;
  }
  return out;
}

rsdat::Chunk kill_worker(rsdat::KernelContext&) {
  ::raise(SIGKILL);
  return {};
}

}  // namespace

RSDAT_REGISTER_OP("test_add_one", add_one);
RSDAT_REGISTER_OP("test_kill_worker", kill_worker);
RSDAT_REGISTER_OP("test_count_runs", count_runs);
RSDAT_REGISTER_OP("test_sleep", sleep_then_copy);
RSDAT_REGISTER_OP("test_box_sum", box_sum);
