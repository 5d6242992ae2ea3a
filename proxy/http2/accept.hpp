#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace keel::http2 {

// Worker thread. Starts serving a connection just accepted (and counted) by
// the worker. Its first bytes are peeked, not read: on a plain listener with
// `http2`, the HTTP/2 connection preface makes it an HTTP/2 connection (h2c)
// and anything else goes to the HTTP/1.1 connection as before; on a TLS
// listener, an HTTP request line gets a 400 in plain HTTP, a ClientHello
// offering h2 (with `http2`) the HTTP/2 connection, anything else the HTTP/1.1
// TLS connection. Bytes usually come with the connection, so most
// connections cost one recv(MSG_PEEK) and nothing else; only one whose
// bytes have not arrived yet waits (under timeouts.client_header).
void start_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                      const boost::asio::ip::tcp::endpoint& peer, worker::Worker::TlsContext tls, bool http2);

}  // namespace keel::http2
