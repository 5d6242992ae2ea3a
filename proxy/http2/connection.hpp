#pragma once

#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace keel::http2 {

// Worker thread. Serves an HTTP/2 connection whose client opened with the
// connection preface (h2c; the preface is still unread in the socket). Counted
// in SharedState::client_connections by the caller, uncounted when it closes.
void start_http2_connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
                            const boost::asio::ip::tcp::endpoint& peer);

}  // namespace keel::http2
