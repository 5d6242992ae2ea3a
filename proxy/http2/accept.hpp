#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace keel::http2 {

// Worker thread. Starts serving a connection just accepted (and counted) by
// the worker. On a plain listener it is an HTTP/1.1 connection, which with
// `http2` hands itself to the HTTP/2 side when its first bytes are the
// connection preface (h2c by prior knowledge). On a TLS listener the first
// bytes are peeked, not read, before the handshake: an HTTP request line gets
// a 400 in plain HTTP, a ClientHello offering h2 (with `http2`) the HTTP/2
// connection, anything else the HTTP/1.1 TLS connection. Bytes usually come
// with the connection, so most TLS connections cost one recv(MSG_PEEK) and
// nothing else; only one whose bytes have not arrived yet waits (under
// timeouts.client_header).
void start_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                      const boost::asio::ip::tcp::endpoint& peer, worker::Worker::TlsContext tls, bool http2);

}  // namespace keel::http2
