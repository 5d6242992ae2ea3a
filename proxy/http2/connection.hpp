#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>
#include <string_view>

namespace keel::http2 {

// Worker thread. Serves an HTTP/2 connection over TLS: the handshake first
// (ALPN chooses h2: the ClientHello offered it).
// Counted in SharedState::client_connections by the caller, uncounted when it
// closes.
void start_http2_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                            const boost::asio::ip::tcp::endpoint& peer, worker::Worker::TlsContext tls);

// Worker thread (a worker::H2cHandOff). An h2c connection whose first bytes,
// the preface and what followed it, the HTTP/1.1 connection already read.
void start_h2c_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                          std::string client_ip, std::string_view read);

}  // namespace keel::http2
