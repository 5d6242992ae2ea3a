#pragma once

#include <boost/asio/ip/address.hpp>

#include <string>

namespace keel::http {

// The address as X-Forwarded-For carries it: dotted quad, or RFC 5952 text for
// IPv6. IPv4 is formatted by hand: Asio's to_string goes through inet_ntop and
// sprintf, about a thousand instructions per accepted connection.
std::string address_text(const boost::asio::ip::address& address);

}  // namespace keel::http
