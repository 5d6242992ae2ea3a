#pragma once

#include "proxy/tls/stream.hpp"
#include "proxy/worker/deadline.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

namespace keel::worker {

// One side of a tunnel: its stream, bytes already read from it but not yet
// relayed, and the deadline that guards its operations.
template <class Stream>
struct TunnelEnd {
  Stream& stream;
  boost::beast::flat_buffer& pending;
  Expirable& deadline;
};

// Relays bytes both ways after a 101 (WebSocket) until either side closes,
// fails or stays silent in both directions for `idle`; then closes both.
boost::asio::awaitable<void> run_tunnel(TunnelEnd<tls::Stream> client, TunnelEnd<tls::Stream> upstream,
                                        Clock::duration idle);

}  // namespace keel::worker
