#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>
#include <string_view>

namespace keel::worker {

// Takes over a plain connection whose first bytes (`read`, already consumed
// from the socket) are the HTTP/2 connection preface: h2c by prior knowledge.
// The connection stays counted (SharedState::client_connections) by its new owner.
using H2cHandOff = void (*)(Worker& worker, SharedState& shared, boost::asio::ip::tcp::socket socket,
                            std::string client_ip, std::string_view read);

// Worker thread. Serves one accepted client connection until it closes: reads
// requests (pipelined ones wait in the buffer, so responses leave in order),
// forwards each to a backend of its pool and streams the response back. With
// `tls`, the connection starts with a TLS handshake timed by client_header.
// With `h2c` (a plain listener with http2), the first bytes are checked for the
// HTTP/2 preface as they are read for the first request, as nginx does: no
// extra syscall for an HTTP/1.1 client.
void start_client_connection(Worker& worker, SharedState& shared, boost::asio::ip::tcp::socket socket,
                             const boost::asio::ip::tcp::endpoint& peer, Worker::TlsContext tls,
                             H2cHandOff h2c = nullptr);

}  // namespace keel::worker
