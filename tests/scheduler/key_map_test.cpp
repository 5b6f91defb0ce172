#include "scheduler/key_map.hpp"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace rsdat::sched {
namespace {

TEST(KeyMap, AgreesWithUnorderedMapUnderRandomInsertsAndErases) {
  KeyMap<uint64_t> map;
  std::unordered_map<TaskKey, uint64_t> model;
  std::mt19937_64 rng(7);
  // Few tokens and a small chunk range: many collisions, runs that wrap, reused slots.
  for (int step = 0; step < 200000; ++step) {
    TaskKey k{rng() % 3, rng() % 5000};
    if (rng() % 3 == 0) {
      EXPECT_EQ(map.erase(k), model.erase(k));
    } else {
      uint64_t v = rng();
      auto [it, added] = map.emplace(k, v);
      auto [mit, madded] = model.emplace(k, v);
      EXPECT_EQ(added, madded);
      EXPECT_EQ(it->first, k);
      EXPECT_EQ(it->second, mit->second);
    }
    if (step % 20000 == 0) {
      ASSERT_EQ(map.size(), model.size());
      for (const auto& [key, value] : model) ASSERT_EQ(map.at(key), value) << key.to_string();
      size_t seen = 0;
      for (const auto& [key, value] : map) {
        ++seen;
        ASSERT_EQ(model.at(key), value);
      }
      ASSERT_EQ(seen, model.size());
    }
  }
  for (const auto& [key, value] : model) EXPECT_EQ(map.at(key), value);
  EXPECT_EQ(map.size(), model.size());
}

TEST(KeyMap, ReferencesStayValidWhileTheMapGrows) {
  KeyMap<std::string> map;
  map.emplace({1, 0}, "first");
  std::string& first = map.at({1, 0});
  for (uint64_t i = 1; i < 100000; ++i) map.emplace({1, i}, std::to_string(i));
  EXPECT_EQ(&first, &map.at({1, 0}));
  EXPECT_EQ(first, "first");
  EXPECT_FALSE(map.emplace({1, 0}, "again").second);
  EXPECT_EQ(map.at({1, 0}), "first");
}

TEST(KeyMap, MissingKeys) {
  KeyMap<int> map;
  EXPECT_EQ(map.find({1, 2}), map.end());
  EXPECT_EQ(map.count({1, 2}), 0u);
  EXPECT_THROW(map.at({1, 2}), std::out_of_range);
  EXPECT_EQ(map.erase(TaskKey{1, 2}), 0u);
  map.emplace({1, 2}, 3);
  map.erase(map.find({1, 2}));
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.begin(), map.end());
}

}  // namespace
}  // namespace rsdat::sched
