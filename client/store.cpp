#include "rsdat/store.hpp"

#include <stdexcept>

#include "io/store.hpp"

namespace rsdat {
namespace {

[[noreturn]] void raise(const Status& st, const char* what) {
  const std::string m = std::string(what) + ": " + st.message();
  if (st.code() == StatusCode::kInvalidArgument) throw std::invalid_argument(m);
  if (st.code() == StatusCode::kNotFound) throw std::out_of_range(m);
  throw std::runtime_error(m);
}

std::shared_ptr<store::Store> open(const std::string& url, const char* what) {
  auto s = store::open_store(url);
  if (!s.ok()) raise(s.status(), what);
  return std::move(s).value();
}

}  // namespace

std::pair<std::string, std::string> split_store_arg(const std::string& arg) { return store::split_store_arg(arg); }

bool is_remote_store(const std::string& store) { return store::is_remote_url(store); }

std::string store_get(const std::string& store, const std::string& key) {
  auto b = open(store, "store_get")->get(key);
  if (!b.ok()) raise(b.status(), "store_get");
  return std::string(b->view());
}

void store_put(const std::string& store, const std::string& key, std::string_view bytes) {
  Status st = open(store, "store_put")->put(key, bytes);
  if (!st.is_ok()) raise(st, "store_put");
}

bool store_exists(const std::string& store, const std::string& key) {
  auto e = open(store, "store_exists")->exists(key);
  if (!e.ok()) raise(e.status(), "store_exists");
  return *e;
}

void store_remove(const std::string& store, const std::string& key) {
  Status st = open(store, "store_remove")->remove(key);
  if (!st.is_ok()) raise(st, "store_remove");
}

std::vector<StoreEntry> store_list(const std::string& store, const std::string& prefix) {
  auto l = open(store, "store_list")->list(prefix);
  if (!l.ok()) raise(l.status(), "store_list");
  std::vector<StoreEntry> out;
  for (const auto& e : *l) out.push_back({e.name, e.is_dir});
  return out;
}

}  // namespace rsdat
