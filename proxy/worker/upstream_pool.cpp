#include "proxy/worker/upstream_pool.hpp"

#include "proxy/worker/pool_view.hpp"

#include <algorithm>

namespace keel::worker {
namespace {
std::uint64_t next_park_generation() {
  // Connections never move between workers, so a per-thread counter is unique.
  thread_local std::uint64_t generation = 0;
  return ++generation;
}
}  // namespace

UpstreamConnection::UpstreamConnection(DeadlineList& deadlines, boost::asio::ip::tcp::socket socket)
    : Expirable(deadlines), socket_(std::move(socket)) {}

void UpstreamConnection::on_expired() {
  if (parked_in_ != nullptr) {
    auto& idle = parked_in_->idle;
    auto found = std::find_if(idle.begin(), idle.end(),
                              [this](const auto& connection) { return connection.get() == this; });
    if (found != idle.end()) idle.erase(found);  // destroys this
    return;
  }
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void park(BackendState& backend, std::unique_ptr<UpstreamConnection> connection,
          Clock::duration idle) {
  if (!backend.eligible) return;  // closes it
  UpstreamConnection& parked = *connection;
  parked.parked_in_ = &backend;
  parked.park_generation_ = next_park_generation();
  parked.reused_ = true;
  parked.expires_after(idle);

  // A readable idle socket means the backend closed it or broke the protocol:
  // drop it. The handler only compares the pointer and generation, never
  // touches a connection that is no longer parked.
  parked.socket_.async_wait(
      boost::asio::ip::tcp::socket::wait_read,
      [state = boost::intrusive_ptr<BackendState>(&backend), raw = &parked,
       generation = parked.park_generation_](const boost::system::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted) return;
        auto& list = state->idle;
        auto found = std::find_if(list.begin(), list.end(), [&](const auto& connection) {
          return connection.get() == raw && raw->park_generation_ == generation;
        });
        if (found != list.end()) list.erase(found);
      });
  backend.idle.push_back(std::move(connection));
  if (backend.idle.size() > kMaxIdlePerBackend) backend.idle.pop_front();
}

std::unique_ptr<UpstreamConnection> take_idle(BackendState& backend) {
  if (backend.idle.empty() || !backend.eligible) return nullptr;
  auto connection = std::move(backend.idle.back());
  backend.idle.pop_back();
  connection->parked_in_ = nullptr;
  connection->park_generation_ = 0;
  boost::system::error_code ignored;
  connection->socket_.cancel(ignored);  // the idle watch
  connection->expires_never();
  return connection;
}

}  // namespace keel::worker
