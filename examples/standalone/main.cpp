// The smallest analysis program: a local cluster of two workers, an expression, the
// result checked against what it must be. Prints "ok" and exits 0 when it is.
#include <rsdat/rsdat.hpp>

#include <cmath>
#include <cstdio>

int main() {
  rsdat::LocalCluster cluster({.workers = 2, .threads_per_worker = 1});
  rsdat::Client client(cluster, {.progress = false});

  // mean over axis 0 of x + 2 with x = the row index: every column is (n - 1) / 2 + 2.
  const int64_t n = 1000;
  auto x = rsdat::coordinate({n, 300}, {250, 100}, 0);
  auto col = (x + 2.0).mean({0}).compute<double>();
  auto total = rsdat::ones({n, 300}, {250, 100}).prod().item();
  for (double v : col) {
    if (std::abs(v - ((n - 1) / 2.0 + 2.0)) > 1e-9) {
      std::printf("wrong column mean %g\n", v);
      return 1;
    }
  }
  if (total != 1.0) {
    std::printf("wrong product %g\n", total);
    return 1;
  }
  std::printf("ok: %zu column means of %.1f\n", col.size(), col(0));
  return 0;
}
