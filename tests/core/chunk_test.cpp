// Chunk buffers: the pool of freed large buffers.
#include "core/chunk.hpp"

#include <gtest/gtest.h>

namespace rsdat {
namespace {

// Freed buffers come back for the same size; beyond the limit the oldest go, so the
// sizes in use now are kept rather than those of an earlier computation.
TEST(BufferPool, ReusesBySizeAndEvictsTheOldestFirst) {
  constexpr size_t kMiB = 1 << 20;
  set_buffer_pool_limit(0);  // empty
  set_buffer_pool_limit(3 * kMiB);
  const uint8_t* later_small = nullptr;
  {
    auto a = Buffer::allocate(kMiB);
    auto b = Buffer::allocate(kMiB);
    later_small = b->data();
    a.reset();  // freed first: the oldest
    b.reset();
  }
  EXPECT_EQ(buffer_pool_cached_bytes(), 2 * kMiB);
  const uint8_t* large = nullptr;
  {
    auto c = Buffer::allocate(2 * kMiB);
    large = c->data();
  }
  // 4 MiB freed in all: the oldest 1 MiB buffer went back to the system.
  EXPECT_EQ(buffer_pool_cached_bytes(), 3 * kMiB);
  {
    auto c = Buffer::allocate(2 * kMiB);
    EXPECT_EQ(c->data(), large);  // the same buffer again
    EXPECT_EQ(buffer_pool_cached_bytes(), kMiB);
    auto a = Buffer::allocate(kMiB);
    EXPECT_EQ(a->data(), later_small);  // the older one was evicted, the later one is left
    EXPECT_EQ(buffer_pool_cached_bytes(), 0u);
  }
  // Bigger than the whole pool: not kept.
  { auto huge = Buffer::allocate(4 * kMiB); }
  EXPECT_EQ(buffer_pool_cached_bytes(), 3 * kMiB);
  trim_buffer_pool();
  EXPECT_EQ(buffer_pool_cached_bytes(), 0u);
  set_buffer_pool_limit(size_t{512} << 20);
}

}  // namespace
}  // namespace rsdat
