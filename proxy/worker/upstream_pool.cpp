#include "proxy/worker/upstream_pool.hpp"

#include "proxy/tls/upstream_context.hpp"
#include "proxy/worker/pool_view.hpp"

#include <algorithm>

#include <sys/socket.h>

#include <cerrno>

namespace keel::worker {
UpstreamConnection::UpstreamConnection(DeadlineList& deadlines, boost::asio::ip::tcp::socket socket)
    : Expirable(deadlines), stream_(std::move(socket)) {}

void UpstreamConnection::use_tls(std::shared_ptr<const tls::UpstreamContext> context) {
  tls_ = std::move(context);
  stream_.use_tls(tls_->context());
}

void UpstreamConnection::on_expired() {
  if (parked_in_ != nullptr) {
    auto& idle = parked_in_->idle;
    auto found = std::find_if(idle.begin(), idle.end(),
                              [this](const auto& connection) { return connection.get() == this; });
    if (found != idle.end()) idle.erase(found);  // destroys this
    return;
  }
  boost::system::error_code ignored;
  socket().cancel(ignored);
}

void park(BackendState& backend, std::unique_ptr<UpstreamConnection> connection,
          Clock::duration idle) {
  if (!backend.eligible) return;  // closes it
  UpstreamConnection& parked = *connection;
  parked.parked_in_ = &backend;
  parked.reused_ = true;
  parked.parked_at_ = Clock::now();
  parked.expires_after(idle);
  backend.idle.push_back(std::move(connection));
  if (backend.idle.size() > kMaxIdlePerBackend) backend.idle.pop_front();
}

namespace {
// A parked connection is usable if reading it would block: the backend has
// neither closed it nor sent anything unasked. One non-blocking peek at reuse
// costs a syscall, as an idle watch would (its epoll re-arm), without the
// watch's operation, cancellation and handler per request, and it also sees a
// close that arrived a moment ago.
bool still_open(boost::asio::ip::tcp::socket& socket) {
  char byte;
  const auto got = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

std::unique_ptr<UpstreamConnection> take_idle(BackendState& backend, bool can_retry) {
  if (!backend.eligible) return nullptr;
  const auto now = Clock::now();
  while (!backend.idle.empty()) {
    auto connection = std::move(backend.idle.back());
    backend.idle.pop_back();
    const bool recently_parked = now - connection->parked_at_ < kTrustParkedFor;
    if (!(can_retry && recently_parked) && !still_open(connection->socket())) continue;  // closed: dropped
    connection->parked_in_ = nullptr;
    connection->expires_never();
    return connection;
  }
  return nullptr;
}

}  // namespace keel::worker
