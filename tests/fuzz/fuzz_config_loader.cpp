// The config loader: YAML text to a Config or a list of errors (parse_config, as
// `keel --check-config`, start and SIGHUP use it). Host names resolve through
// fake_resolver.cpp. Checks, besides the sanitizers: it never throws, and it
// returns a config exactly when it reports no error, every error with a
// message and a place inside the text (or 0:0 for the whole file).
#include "proxy/config/config.hpp"

#include "tests/fuzz/check.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>


extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The admin token may come from the environment; the fuzzer's must not.
  ::unsetenv("KEEL_ADMIN_TOKEN");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const keel::config::LoadResult result = keel::config::parse_config(text, "fuzz.yaml");
  KEEL_FUZZ_CHECK(result.config.has_value() == result.errors.empty());
  std::size_t lines = 1;
  for (const char c : text) lines += c == '\n' || c == '\r';
  for (const auto& error : result.errors) {
    KEEL_FUZZ_CHECK(!error.message.empty());
    KEEL_FUZZ_CHECK(error.file == "fuzz.yaml");
    KEEL_FUZZ_CHECK(error.line >= 0 && error.column >= 0);
    KEEL_FUZZ_CHECK(static_cast<std::size_t>(error.line) <= lines + 1);
    KEEL_FUZZ_CHECK(error.to_string().starts_with("fuzz.yaml:"));
  }
  return 0;
}
