#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace keel::http2 {

// Worker thread. Serves an HTTP/2 connection: h2c when `tls` is null (the
// client opened with the connection preface, still unread in the socket),
// else a TLS handshake first (ALPN chooses h2: the ClientHello offered it).
// Counted in SharedState::client_connections by the caller, uncounted when it
// closes.
void start_http2_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                            const boost::asio::ip::tcp::endpoint& peer, worker::Worker::TlsContext tls);

}  // namespace keel::http2
