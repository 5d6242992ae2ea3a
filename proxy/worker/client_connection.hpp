#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace keel::worker {

// Worker thread. Serves one accepted client connection until it closes: reads
// requests (pipelined ones wait in the buffer, so responses leave in order),
// forwards each to a backend of its pool and streams the response back. With
// `tls`, the connection starts with a TLS handshake timed by client_header.
void start_client_connection(Worker& worker, SharedState& shared, boost::asio::ip::tcp::socket socket,
                             const boost::asio::ip::tcp::endpoint& peer, Worker::TlsContext tls);

}  // namespace keel::worker
