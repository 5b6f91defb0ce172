#include "scheduler/key_map.hpp"

#include "scheduler/root_queues.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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

TEST(KeySet, AgreesWithUnorderedSetUnderRandomInsertsAndErases) {
  KeySet set;
  std::unordered_set<TaskKey> model;
  std::mt19937_64 rng(11);
  for (int step = 0; step < 100000; ++step) {
    TaskKey k{rng() % 2, rng() % 3000};
    if (rng() % 3 == 0) {
      EXPECT_EQ(set.erase(k), model.erase(k));
    } else {
      EXPECT_EQ(set.insert(k), model.insert(k).second);
    }
    EXPECT_EQ(set.contains(k), model.count(k) == 1);
    if (step % 10000 == 0) {
      ASSERT_EQ(set.size(), model.size());
      std::vector<TaskKey> listed(set.begin(), set.end());  // each key once, in some order
      std::unordered_set<TaskKey> distinct(listed.begin(), listed.end());
      ASSERT_EQ(listed.size(), model.size());
      ASSERT_EQ(distinct, model);
    }
  }
}

// longest() against a scan of every queue (the lowest position of the largest size),
// after every change, with position counts that are and are not powers of two.
TEST(RootQueues, LongestAgreesWithAScanAfterEveryChange) {
  std::mt19937_64 rng(5);
  for (size_t positions : {1, 2, 3, 7, 8, 33}) {
    RootQueues q;
    q.reset(positions);
    EXPECT_EQ(q.size(), positions);
    EXPECT_EQ(q.longest(), 0u);
    std::vector<std::vector<uint64_t>> orders(positions);
    uint64_t next = 0;
    for (int step = 0; step < 4000; ++step) {
      const size_t pos = rng() % positions;
      if (!orders[pos].empty() && rng() % 2 == 0) {
        const size_t i = rng() % orders[pos].size();
        q.erase(pos, orders[pos][i]);
        orders[pos].erase(orders[pos].begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        q.emplace(pos, next, TaskKey{1, next});
        orders[pos].push_back(next++);
      }
      size_t expect = 0;
      for (size_t i = 0; i < positions; ++i)
        if (orders[i].size() > orders[expect].size()) expect = i;
      ASSERT_EQ(q.longest(), expect) << "positions " << positions << ", step " << step;
      ASSERT_EQ(q[pos].size(), orders[pos].size());
    }
  }
}

}  // namespace
}  // namespace rsdat::sched
