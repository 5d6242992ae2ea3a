// What a TestBackend saw of one request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::test {

// Header fields in the order they were sent, duplicates kept.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct RecordedRequest {
  // Every member has an initializer so that designated initializers stay clear of GCC 12's
  // -Wmissing-field-initializers.
  std::string method{};
  std::string target{};
  unsigned version = 11;  // 10 or 11
  Headers headers{};
  std::string body{};                  // decoded (de-chunked); empty in next_request_head()
  Headers trailers{};                  // a chunked body's trailer fields, in order
  std::uint64_t connection_id = 0;     // 1, 2, ... in accept order; equal ids = same connection
  std::size_t index_on_connection = 0; // 0 for the first request on its connection
  std::string peer{};                  // "127.0.0.1:PORT" of the connecting side

  // Header lookups are case-insensitive.
  bool has(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  // The first value of the field, if present.
  std::optional<std::string> header(std::string_view name) const;
  // The first value; throws std::out_of_range naming the field if absent.
  const std::string& at(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
};

}  // namespace keel::test
