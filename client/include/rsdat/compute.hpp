// Several arrays computed together, into untyped host buffers.
//
//   auto x = rsdat::random::uniform({4000, 4000}, {1000, 1000}, 1);
//   std::vector<rsdat::HostArray> r = rsdat::compute({x.mean(), x.std()});  // x computed once
//   const double* m = reinterpret_cast<const double*>(r[0].data.get());
//
// The arrays are lowered into one graph sent in one request, so a node they share (x
// above) is computed once, as dask.compute(a, b) does; each result is gathered once
// into its own buffer: an array of one block is the received block itself, with no
// copy; one of several blocks is one copy of them, placed. Memory: the results' bytes in this process, plus the blocks being placed.
// Used by the Python module, which builds its numpy arrays over these buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat {

// One computed array: `data` holds shape's size × dtype_size(dtype) bytes, C order,
// aligned to the dtype; the memory is the caller's to read and write.
struct HostArray {
  DType dtype = DType::kFloat64;
  Shape shape;
  std::shared_ptr<uint8_t> data;
};

// Computes `arrays` in one graph through `client` (default: Client::current()) and
// returns them in order, each in its own dtype. Throws TaskError, ClusterError,
// CancelledError (Client::cancel() from another thread: nothing stays on the cluster),
// or std::invalid_argument for an empty Array.
std::vector<HostArray> compute(const std::vector<Array>& arrays, Client* client = nullptr);

}  // namespace rsdat
