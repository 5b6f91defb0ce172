// libFuzzer target: the small files a daemon or client reads at start-up. The first
// byte selects which (mod 3), the rest is the file's text:
//   0  a scheduler file (parse_scheduler_file)
//   1  a CURVE key file (parse_key_file: every key it returns must decode)
//   2  an allowed-keys file (parse_allowed_keys: every key it returns must decode)
#include <zmq.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "net/scheduler_file.hpp"
#include "net/security.hpp"

namespace {

void check_key(const std::string& z85) {
  uint8_t raw[32];
  // strlen: the decoder reads up to the first NUL.
  if (z85.size() != 40 || std::strlen(z85.c_str()) != 40 || zmq_z85_decode(raw, z85.c_str()) == nullptr) {
    std::fprintf(stderr, "invariant broken: a key read back is not 40 Z85 characters\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: (void)rsdat::parse_scheduler_file(text, "scheduler.json"); break;
    case 1:
      if (auto keys = rsdat::parse_key_file(text, "cluster.key"); keys.ok()) {
        for (const std::string* k : {&keys->server_public, &keys->client_public, &keys->client_secret}) check_key(*k);
        if (!keys->server_secret.empty()) check_key(keys->server_secret);
      }
      break;
    default:
      if (auto keys = rsdat::parse_allowed_keys(text, "allowed"); keys.ok()) {
        for (const std::string& k : *keys) check_key(k);
      }
  }
  return 0;
}
