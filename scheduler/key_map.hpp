// KeyMap<V>: a map from TaskKey to V for millions of entries, used for the scheduler's
// task records.
//
// std::unordered_map spends most of a large graph's time chasing bucket chains through
// nodes spread over memory (one cache miss per node). Here the index is one flat,
// open-addressing table of (key, slot) pairs probed linearly, so a lookup mostly reads
// one cache line; the values live in blocks of slots that never move, so
// references and iterators stay valid across inserts, as with unordered_map, and until
// their own entry is erased. Erased slots are reused. Iteration order is unspecified.
//
// The subset of the unordered_map interface the scheduler uses: find, at, count,
// emplace, erase, size, begin/end, with iterators to std::pair<const TaskKey, V>.
#pragma once

#include <cstdint>
#include <array>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/task.hpp"

namespace rsdat::sched {

template <class V>
class KeyMap {
 public:
  using value_type = std::pair<const TaskKey, V>;

  template <class Owner, class Value>
  class Iter {
   public:
    Iter() = default;
    Iter(Owner* map, size_t slot) : map_(map), slot_(slot) { skip_empty(); }
    Value& operator*() const { return *map_->slot(slot_); }
    Value* operator->() const { return &*map_->slot(slot_); }
    Iter& operator++() {
      ++slot_;
      skip_empty();
      return *this;
    }
    friend bool operator==(const Iter& a, const Iter& b) { return a.slot_ == b.slot_; }
    size_t slot() const { return slot_; }

   private:
    void skip_empty() {
      while (slot_ < map_->used_ && !map_->slot(slot_)) ++slot_;
    }
    Owner* map_ = nullptr;
    size_t slot_ = 0;
  };
  using iterator = Iter<KeyMap, value_type>;
  using const_iterator = Iter<const KeyMap, const value_type>;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  iterator begin() { return {this, 0}; }
  iterator end() { return {this, used_}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, used_}; }

  iterator find(const TaskKey& key) {
    size_t i = probe(key);
    return i == kNone ? end() : iterator(this, index_[i].slot);
  }
  const_iterator find(const TaskKey& key) const {
    size_t i = probe(key);
    return i == kNone ? end() : const_iterator(this, index_[i].slot);
  }
  size_t count(const TaskKey& key) const { return probe(key) == kNone ? 0 : 1; }
  V& at(const TaskKey& key) {
    size_t i = probe(key);
    if (i == kNone) throw std::out_of_range("KeyMap::at: no record for " + key.to_string());
    return slot(index_[i].slot)->second;
  }
  const V& at(const TaskKey& key) const { return const_cast<KeyMap*>(this)->at(key); }

  // Inserts (key, value) unless key is present; returns where it is and whether it was added.
  std::pair<iterator, bool> emplace(const TaskKey& key, V value) {
    if (size_t i = probe(key); i != kNone) return {iterator(this, index_[i].slot), false};
    if ((size_ + 1) * 8 > index_.size() * 5) grow();  // load factor at most 5/8
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(used_++);
      if ((slot >> kBlockBits) == blocks_.size()) blocks_.push_back(std::make_unique<Block>());
    }
    this->slot(slot).emplace(key, std::move(value));
    place({key, slot});
    ++size_;
    return {iterator(this, slot), true};
  }

  void erase(iterator it) { erase(it->first); }
  size_t erase(const TaskKey& key) {
    size_t i = probe(key);
    if (i == kNone) return 0;
    uint32_t slot = index_[i].slot;
    this->slot(slot).reset();
    free_.push_back(slot);
    --size_;
    // Backward-shift deletion: move later entries of the run into the hole, so
    // lookups never need tombstones.
    const size_t mask = index_.size() - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; index_[j].slot != kEmpty; j = (j + 1) & mask) {
      size_t home = bucket(index_[j].key);
      // Entry j may move to the hole when its home is not in (hole, j] cyclically.
      bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      index_[hole] = index_[j];
      hole = j;
    }
    index_[hole].slot = kEmpty;
    return 1;
  }

  void reserve(size_t n) {
    while (n * 8 > index_.size() * 5) grow();
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  static constexpr size_t kNone = SIZE_MAX;
  struct Entry {
    TaskKey key;
    uint32_t slot = kEmpty;
  };

  size_t bucket(const TaskKey& key) const {
    // Fibonacci hashing of the mixed hash: the top bits index the table.
    return (TaskKeyHash()(key) * 0x9E3779B97F4A7C15ull) >> shift_;
  }
  size_t probe(const TaskKey& key) const {
    if (index_.empty()) return kNone;
    const size_t mask = index_.size() - 1;
    for (size_t i = bucket(key);; i = (i + 1) & mask) {
      if (index_[i].slot == kEmpty) return kNone;
      if (index_[i].key == key) return i;
    }
  }
  void place(Entry e) {
    const size_t mask = index_.size() - 1;
    size_t i = bucket(e.key);
    while (index_[i].slot != kEmpty) i = (i + 1) & mask;
    index_[i] = e;
  }
  void grow() {
    std::vector<Entry> old = std::move(index_);
    size_t n = old.empty() ? 16 : old.size() * 2;
    index_.assign(n, Entry{});
    shift_ = 64;
    for (size_t s = n; s > 1; s >>= 1) --shift_;
    for (const Entry& e : old)
      if (e.slot != kEmpty) place(e);
  }

  // Values in blocks that never move.
  static constexpr unsigned kBlockBits = 8;
  using Block = std::array<std::optional<value_type>, size_t{1} << kBlockBits>;
  std::optional<value_type>& slot(size_t i) { return (*blocks_[i >> kBlockBits])[i & ((size_t{1} << kBlockBits) - 1)]; }
  const std::optional<value_type>& slot(size_t i) const {
    return (*blocks_[i >> kBlockBits])[i & ((size_t{1} << kBlockBits) - 1)];
  }

  std::vector<Entry> index_;
  unsigned shift_ = 64;
  std::vector<std::unique_ptr<Block>> blocks_;
  size_t used_ = 0;  // slots handed out (live or free)
  std::vector<uint32_t> free_;
  size_t size_ = 0;
};

// KeySet: a set of TaskKey on KeyMap's table, for the keys each worker holds and runs:
// an insert or erase allocates nothing per key, where std::unordered_set allocates a
// node each time. The subset of the unordered_set interface the scheduler uses.
class KeySet {
  struct Nothing {};
  using Map = KeyMap<Nothing>;

 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = TaskKey;
    using difference_type = std::ptrdiff_t;
    using pointer = const TaskKey*;
    using reference = const TaskKey&;
    const_iterator() = default;
    explicit const_iterator(Map::const_iterator it) : it_(it) {}
    const TaskKey& operator*() const { return it_->first; }
    const TaskKey* operator->() const { return &it_->first; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.it_ == b.it_; }

   private:
    Map::const_iterator it_;
  };

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  const_iterator begin() const { return const_iterator(map_.begin()); }
  const_iterator end() const { return const_iterator(map_.end()); }
  size_t count(const TaskKey& key) const { return map_.count(key); }
  bool contains(const TaskKey& key) const { return map_.count(key) != 0; }
  bool insert(const TaskKey& key) { return map_.emplace(key, Nothing{}).second; }
  size_t erase(const TaskKey& key) { return map_.erase(key); }

 private:
  Map map_;
};

}  // namespace rsdat::sched
