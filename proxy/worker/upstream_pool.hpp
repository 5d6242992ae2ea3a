#pragma once

#include "proxy/tls/stream.hpp"
#include "proxy/worker/deadline.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>

namespace keel::tls {
class UpstreamContext;
}

namespace keel::worker {

struct BackendState;

// One keep-alive connection to a backend. Owned by the exchange using it, or,
// between requests, by its backend's idle list ("parked").
class UpstreamConnection final : public Expirable {
 public:
  UpstreamConnection(DeadlineList& deadlines, boost::asio::ip::tcp::socket socket);

  // The TCP layer (connect, options, cancel, close) and the byte stream over it.
  boost::asio::ip::tcp::socket& socket() { return stream_.socket(); }
  tls::Stream& stream() { return stream_; }
  // Before the handshake: speak TLS with `context`, which this connection keeps.
  void use_tls(std::shared_ptr<const tls::UpstreamContext> context);
  bool is_reused() const { return reused_; }

 private:
  friend void park(BackendState&, std::unique_ptr<UpstreamConnection>, Clock::duration);
  friend std::unique_ptr<UpstreamConnection> take_idle(BackendState&, bool);
  void on_expired() override;

  tls::Stream stream_;
  std::shared_ptr<const tls::UpstreamContext> tls_;
  BackendState* parked_in_ = nullptr;  // set while parked
  Clock::time_point parked_at_{};
  bool reused_ = false;
};

// Keeps a connection for reuse. Idle longer than `idle`: closed.
void park(BackendState& backend, std::unique_ptr<UpstreamConnection> connection,
          Clock::duration idle);

// The most recently parked connection of `backend` that the backend has not
// closed meanwhile (closed ones are dropped on the way), or null. Whether it was
// closed costs a syscall to find out, so it is skipped for a connection parked
// less than kTrustParkedFor ago when the caller can retry on a fresh connection
// (`can_retry`: the whole request is in hand): backends close idle connections
// after seconds, not milliseconds, and the rare loser is retried.
std::unique_ptr<UpstreamConnection> take_idle(BackendState& backend, bool can_retry);
inline constexpr Clock::duration kTrustParkedFor = std::chrono::seconds(1);

// Parked connections kept per backend and worker; past it the oldest closes.
inline constexpr std::size_t kMaxIdlePerBackend = 1024;

}  // namespace keel::worker
