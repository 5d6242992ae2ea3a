#include "proxy/http/address_text.hpp"

namespace keel::http {

std::string address_text(const boost::asio::ip::address& address) {
  if (!address.is_v4()) return address.to_string();
  const auto bytes = address.to_v4().to_bytes();
  char text[16];  // "255.255.255.255"
  char* out = text;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) *out++ = '.';
    const unsigned value = bytes[i];
    if (value >= 100) *out++ = static_cast<char>('0' + value / 100);
    if (value >= 10) *out++ = static_cast<char>('0' + value / 10 % 10);
    *out++ = static_cast<char>('0' + value % 10);
  }
  return std::string(text, static_cast<std::size_t>(out - text));
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const bool brackets = address.is_v6();
  std::string text;
  text.reserve(48);
  if (brackets) text += '[';
  text += address_text(address);
  if (brackets) text += ']';
  text += ':';
  text += std::to_string(endpoint.port());
  return text;
}

}  // namespace keel::http
