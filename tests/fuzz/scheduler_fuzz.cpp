// libFuzzer target: messages from clients and workers, as the scheduler decodes and
// handles them (replies included). A fresh scheduler per input keeps crashes
// reproducible from the input alone.
#include <spdlog/spdlog.h>

#include "scheduler/scheduler_server.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Not started: replies go to a socket with no peers, where ZeroMQ drops them.
  // A few bytes of pattern can describe millions of tasks: keep graphs small here.
  rsdat::sched::SchedulerOptions options;
  options.max_graph_tasks = 10000;
  rsdat::sched::SchedulerServer server(options);
  for (const auto& m : rsdat::fuzz::split(data, size)) server.handle_frames(rsdat::fuzz::router_frames(m));
  return 0;
}
