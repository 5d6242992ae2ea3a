#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace keel::http2 {

// Worker thread. Starts serving a connection just accepted (and counted) by
// the worker on a TLS listener. (A plain listener's connections start as
// HTTP/1.1, which hands itself over to HTTP/2 when its first bytes are the
// connection preface: worker::start_client_connection, start_h2c_connection.)
// The first bytes are peeked, not read, before the handshake: an HTTP request
// line gets a 400 in plain HTTP, a ClientHello offering h2 (with `http2`) the
// HTTP/2 connection, anything else the HTTP/1.1 TLS connection. Bytes usually
// come with the connection, so most connections cost one recv(MSG_PEEK) and
// nothing else; only one whose bytes have not arrived yet waits (under
// timeouts.client_header).
void start_tls_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                      const boost::asio::ip::tcp::endpoint& peer, worker::Worker::TlsContext tls, bool http2);

}  // namespace keel::http2
