#include "proxy/worker/tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace keel::worker {
namespace {

namespace asio = boost::asio;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kTunnelChunk = 16 * 1024;

void close_both(TunnelEnd& a, TunnelEnd& b) {
  boost::system::error_code ignored;
  a.socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  a.socket.close(ignored);
  b.socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  b.socket.close(ignored);
}

// Copies from `from` to `to` until one of them ends, then ends the tunnel.
asio::awaitable<void> relay(TunnelEnd from, TunnelEnd to, Clock::duration idle) {
  for (;;) {
    if (from.pending.size() > 0) {
      from.deadline.expires_after(idle);
      to.deadline.expires_after(idle);
      auto [ec, written] = co_await asio::async_write(to.socket, from.pending.data(), nothrow);
      if (ec) break;
      from.pending.consume(written);
    }
    from.deadline.expires_after(idle);
    to.deadline.expires_after(idle);
    auto [ec, read] = co_await from.socket.async_read_some(from.pending.prepare(kTunnelChunk), nothrow);
    if (ec) break;
    from.pending.commit(read);
  }
  close_both(from, to);
}

}  // namespace

asio::awaitable<void> run_tunnel(TunnelEnd client, TunnelEnd upstream, Clock::duration idle) {
  using namespace asio::experimental::awaitable_operators;
  co_await (relay(client, upstream, idle) && relay(upstream, client, idle));
  client.deadline.expires_never();
  upstream.deadline.expires_never();
}

}  // namespace keel::worker
