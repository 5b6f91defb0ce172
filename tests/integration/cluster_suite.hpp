// A test suite's own cluster: one LocalCluster (2 workers of 1 thread, 1 GB each, the
// test kernels loaded) and a Client on it, started before the suite's first test and
// stopped after its last. Suites derive from it and use cluster_ and client_.
#pragma once

#include <gtest/gtest.h>

#include "rsdat/rsdat.hpp"

namespace rsdat::test_support {

class ClusterSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(LocalClusterOptions{
        .workers = 2, .threads_per_worker = 1, .memory_limit = "1GB", .worker_plugins = {RSDAT_TEST_OPS}});
    client_ = new Client(*cluster_, ClientOptions{.progress = false});
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    client_ = nullptr;
    cluster_ = nullptr;
  }
  inline static LocalCluster* cluster_ = nullptr;
  inline static Client* client_ = nullptr;
};

}  // namespace rsdat::test_support
