#include "tests/support/reply.hpp"

#include <utility>

namespace keel::test {

namespace {

// 61 distinct bytes: the pattern's period is prime, so it does not line up with
// power-of-two buffer or chunk sizes.
constexpr std::string_view kPatternAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy";
static_assert(kPatternAlphabet.size() == 61);

}  // namespace

char pattern_byte(std::uint64_t offset) {
  return kPatternAlphabet[offset % kPatternAlphabet.size()];
}

std::string pattern_bytes(std::uint64_t offset, std::size_t length) {
  std::string bytes(length, '\0');
  for (std::size_t i = 0; i < length; ++i) bytes[i] = pattern_byte(offset + i);
  return bytes;
}

bool is_pattern(std::string_view data, std::uint64_t offset) {
  for (std::size_t i = 0; i < data.size(); ++i)
    if (data[i] != pattern_byte(offset + i)) return false;
  return true;
}

Reply Reply::text(std::string body, http::status status) {
  return Reply{.status = status,
               .headers = {{"Content-Type", "text/plain"}},
               .body = std::move(body)};
}

Reply Reply::pattern(std::uint64_t size) {
  return Reply{.headers = {{"Content-Type", "application/octet-stream"}}, .pattern_size = size};
}

Reply Reply::streamed(std::string body, std::size_t chunks, std::chrono::milliseconds interval) {
  return Reply{.headers = {{"Content-Type", "text/plain"}},
               .body = std::move(body),
               .chunked = true,
               .chunks = chunks,
               .chunk_interval = interval};
}

Reply Reply::close_mid_body(std::uint64_t declared_size, std::uint64_t sent_bytes) {
  return Reply{.headers = {{"Content-Type", "application/octet-stream"}},
               .pattern_size = declared_size,
               .close_after_body_bytes = sent_bytes};
}

Reply Reply::hang() { return Reply{.kind = Kind::hang}; }

Reply Reply::close_without_response() { return Reply{.kind = Kind::close}; }

Reply Reply::garbage(std::string bytes) {
  return Reply{.kind = Kind::raw, .body = std::move(bytes), .keep_alive = false};
}

Reply Reply::upgrade_echo() { return Reply{.kind = Kind::upgrade_echo}; }

Reply& Reply::with_header(std::string name, std::string value) & {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

Reply Reply::with_header(std::string name, std::string value) && {
  return std::move(with_header(std::move(name), std::move(value)));
}

Reply& Reply::with_delay(std::chrono::milliseconds d) & {
  delay = d;
  return *this;
}

Reply Reply::with_delay(std::chrono::milliseconds d) && { return std::move(with_delay(d)); }

Reply& Reply::held() & {
  hold_head = true;
  return *this;
}

Reply Reply::held() && { return std::move(held()); }

Reply& Reply::closing() & {
  keep_alive = false;
  return *this;
}

Reply Reply::closing() && { return std::move(closing()); }

}  // namespace keel::test
