#include "proxy/control/asio_scheduler.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace keel::control {

namespace asio = boost::asio;

struct AsioScheduler::State {
  struct Pending {
    explicit Pending(asio::io_context& ioc, std::function<void()> f)
        : timer(ioc), fn(std::move(f)) {}
    asio::steady_timer timer;
    std::function<void()> fn;
  };

  // A call runs only while it is still in here: stop() empties it, so a handler
  // whose timer expired before the cancel finds nothing to run.
  std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending;
  std::uint64_t last_id = 0;
  bool stopped = false;
};

AsioScheduler::AsioScheduler(asio::io_context& ioc)
    : ioc_(ioc), state_(std::make_shared<State>()) {}

AsioScheduler::~AsioScheduler() { stop(); }

health::Scheduler::Clock::time_point AsioScheduler::now() const { return Clock::now(); }

void AsioScheduler::call_after(Clock::duration delay, std::function<void()> fn) {
  if (state_->stopped) return;
  const auto id = ++state_->last_id;
  auto& pending = *state_->pending.emplace(id, std::make_unique<State::Pending>(ioc_, std::move(fn)))
                       .first->second;
  pending.timer.expires_after(std::max(delay, Clock::duration::zero()));
  pending.timer.async_wait(
      [weak = std::weak_ptr<State>(state_), id](const boost::system::error_code&) {
        const auto state = weak.lock();
        if (!state) return;
        const auto it = state->pending.find(id);
        if (it == state->pending.end()) return;  // cancelled
        // Take it out first: fn may call call_after or stop.
        auto fn = std::move(it->second->fn);
        state->pending.erase(it);  // destroying a timer inside its own handler is fine
        fn();
      });
}

void AsioScheduler::stop() {
  state_->stopped = true;
  // Destroying the timers cancels their waits; the handlers then find nothing.
  state_->pending.clear();
}

std::size_t AsioScheduler::pending() const { return state_->pending.size(); }

}  // namespace keel::control
