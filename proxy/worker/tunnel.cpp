#include "proxy/worker/tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace keel::worker {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kTunnelChunk = 16 * 1024;

template <class A, class B>
void close_both(TunnelEnd<A>& a, TunnelEnd<B>& b) {
  boost::system::error_code ignored;
  a.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  a.stream.socket().close(ignored);
  b.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  b.stream.socket().close(ignored);
}

// Copies from `from` to `to` until one of them ends, then ends the tunnel.
template <class From, class To>
asio::awaitable<void> relay(TunnelEnd<From> from, TunnelEnd<To> to, Clock::duration idle) {
  for (;;) {
    if (from.pending.size() > 0) {
      from.deadline.expires_after(idle);
      to.deadline.expires_after(idle);
      auto [ec, written] = co_await asio::async_write(to.stream, from.pending.data(), nothrow);
      if (ec) break;
      from.pending.consume(written);
    }
    from.deadline.expires_after(idle);
    to.deadline.expires_after(idle);
    auto [ec, read] = co_await from.stream.async_read_some(from.pending.prepare(kTunnelChunk), nothrow);
    if (ec) break;
    from.pending.commit(read);
  }
  close_both(from, to);
}

}  // namespace

asio::awaitable<void> run_tunnel(TunnelEnd<tls::Stream> client, TunnelEnd<tls::Stream> upstream,
                                 Clock::duration idle) {
  using namespace asio::experimental::awaitable_operators;
  co_await (relay(client, upstream, idle) && relay(upstream, client, idle));
  client.deadline.expires_never();
  upstream.deadline.expires_never();
}

}  // namespace keel::worker
