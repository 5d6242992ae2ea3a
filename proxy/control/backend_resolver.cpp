#include "proxy/control/backend_resolver.hpp"

#include <boost/asio/steady_timer.hpp>

#include <utility>

namespace keel::control {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// One pool's schedule. Handlers hold it by shared_ptr and check `stopped`
// before touching the resolver that owns it, which may be gone by then.
struct BackendResolver::Loop {
  Loop(asio::io_context& io, std::string pool, std::chrono::milliseconds interval)
      : pool(std::move(pool)), interval(interval), timer(io), resolver(io) {}

  std::string pool;
  std::chrono::milliseconds interval;
  asio::steady_timer timer;
  tcp::resolver resolver;  // one per pool: stop() cancels its pending lookups
  std::size_t pending = 0;  // lookups not answered yet: a slow DNS server skips rounds, not piles them up
  bool stopped = false;
};

BackendResolver::BackendResolver(asio::io_context& io, Names names, Answer answer)
    : io_(io), names_(std::move(names)), answer_(std::move(answer)) {}

BackendResolver::~BackendResolver() { stop(); }

void BackendResolver::set_pools(const std::map<std::string, std::chrono::milliseconds>& intervals) {
  if (stopped_) return;
  for (auto it = loops_.begin(); it != loops_.end();) {
    const auto wanted = intervals.find(it->first);
    if (wanted != intervals.end() && wanted->second == it->second->interval) {
      ++it;
      continue;
    }
    it->second->stopped = true;
    it->second->timer.cancel();
    it->second->resolver.cancel();
    it = loops_.erase(it);
  }
  for (const auto& [pool, interval] : intervals) {
    if (loops_.count(pool)) continue;
    auto loop = std::make_shared<Loop>(io_, pool, interval);
    loops_.emplace(pool, loop);
    arm(loop);
  }
}

void BackendResolver::stop() {
  stopped_ = true;
  for (auto& [pool, loop] : loops_) {
    loop->stopped = true;
    loop->timer.cancel();
    loop->resolver.cancel();
  }
  loops_.clear();
}

void BackendResolver::arm(const std::shared_ptr<Loop>& loop) {
  loop->timer.expires_after(loop->interval);
  loop->timer.async_wait([this, loop](const boost::system::error_code& ec) {
    if (ec || loop->stopped) return;
    if (loop->pending == 0) look_up(loop);
    arm(loop);
  });
}

void BackendResolver::look_up(const std::shared_ptr<Loop>& loop) {
  for (auto& name : names_(loop->pool)) {
    // Copies: `name` is moved into the handler, maybe before these are read.
    const std::string host = name.host;
    const std::string port = std::to_string(name.port);
    ++loop->pending;
    loop->resolver.async_resolve(
        host, port, tcp::resolver::numeric_service,
        [this, loop, name = std::move(name)](const boost::system::error_code& ec, tcp::resolver::results_type results) {
          --loop->pending;
          if (loop->stopped) return;
          std::vector<tcp::endpoint> endpoints;
          if (!ec)
            for (const auto& entry : results) endpoints.push_back(entry.endpoint());
          answer_(name, ec, endpoints);
        });
  }
}

}  // namespace keel::control
