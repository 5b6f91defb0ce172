// libFuzzer target: messages from peers and clients on a worker's peer socket, as the
// worker decodes and handles them. A fresh worker per input.
#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_input.hpp"
#include "worker/worker_server.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rsdat::worker::WorkerOptions options;
  options.nthreads = 1;
  rsdat::worker::WorkerServer worker(options);
  for (const auto& m : rsdat::fuzz::split(data, size)) worker.handle_peer_frames(rsdat::fuzz::router_frames(m));
  return 0;
}
