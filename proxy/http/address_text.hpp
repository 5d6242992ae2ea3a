#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace keel::http {

// The address as X-Forwarded-For carries it: dotted quad, or RFC 5952 text for
// IPv6. IPv4 is formatted by hand: Asio's to_string goes through inet_ntop and
// sprintf, about a thousand instructions per accepted connection.
std::string address_text(const boost::asio::ip::address& address);

// "host:port" of an endpoint, the one way keel writes one: "127.0.0.1:8081",
// "[::1]:8081" (IPv6 in brackets, so the port stays unambiguous).
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace keel::http
