#include "proxy/http2/client_hello.hpp"

#include <cstdint>

namespace keel::http2 {
namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::uint16_t kAlpnExtension = 16;

// A cursor over bytes that turns every overrun into failure.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return ok_ ? bytes_.size() : 0; }
  std::uint32_t number(std::size_t width) {
    if (!ok_ || bytes_.size() < width) return fail();
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<std::uint8_t>(bytes_[i]);
    bytes_.remove_prefix(width);
    return value;
  }
  std::string_view take(std::size_t length) {
    if (!ok_ || bytes_.size() < length) {
      fail();
      return {};
    }
    const std::string_view taken = bytes_.substr(0, length);
    bytes_.remove_prefix(length);
    return taken;
  }
  void skip_vector(std::size_t length_width) { take(number(length_width)); }

 private:
  std::uint32_t fail() {
    ok_ = false;
    return 0;
  }
  std::string_view bytes_;
  bool ok_ = true;
};

bool alpn_lists_h2(std::string_view extension) {
  Reader list(extension);
  Reader names(list.take(list.number(2)));
  while (names.ok() && names.left() > 0) {
    if (names.take(names.number(1)) == "h2") return true;
  }
  return false;
}

}  // namespace

HelloAlpn inspect_client_hello(std::string_view peeked) {
  // What the first bytes already rule out is decided at once, so that garbage
  // never waits for a record it announces: a handshake record, record version
  // 3.x (SSL 3.0 to TLS 1.3 all start a hello so), a ClientHello in it.
  const auto byte = [&](std::size_t at) { return static_cast<std::uint8_t>(peeked[at]); };
  if (peeked.size() > 0 && byte(0) != kHandshakeRecord) return HelloAlpn::no_h2;
  if (peeked.size() > 1 && byte(1) != 3) return HelloAlpn::no_h2;
  if (peeked.size() > 2 && byte(2) > 4) return HelloAlpn::no_h2;
  if (peeked.size() > 5 && byte(5) != kClientHello) return HelloAlpn::no_h2;
  if (peeked.size() < 5) return HelloAlpn::need_more;
  Reader record(peeked);
  if (record.number(1) != kHandshakeRecord) return HelloAlpn::no_h2;
  record.number(2);  // legacy record version
  const std::uint32_t length = record.number(2);
  if (length + 5 > kMaxHelloRecord) return HelloAlpn::no_h2;
  if (peeked.size() < 5 + length) return HelloAlpn::need_more;
  Reader handshake(record.take(length));
  if (handshake.number(1) != kClientHello) return HelloAlpn::no_h2;
  // A ClientHello split over several records (over 16 KiB) is not read: no_h2.
  Reader hello(handshake.take(handshake.number(3)));
  hello.take(2 + 32);    // legacy version, random
  hello.skip_vector(1);  // session id
  hello.skip_vector(2);  // cipher suites
  hello.skip_vector(1);  // compression methods
  if (!hello.ok() || hello.left() == 0) return HelloAlpn::no_h2;  // no extensions
  Reader extensions(hello.take(hello.number(2)));
  while (extensions.ok() && extensions.left() > 0) {
    const std::uint32_t type = extensions.number(2);
    const std::string_view body = extensions.take(extensions.number(2));
    if (extensions.ok() && type == kAlpnExtension) return alpn_lists_h2(body) ? HelloAlpn::offers_h2 : HelloAlpn::no_h2;
  }
  return HelloAlpn::no_h2;
}

}  // namespace keel::http2
