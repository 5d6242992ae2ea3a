#pragma once

#include "health/checker.hpp"

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace keel::control {

// health::Scheduler on an io_context (the control thread's): steady_clock time and
// one steady_timer per call. Not for the request path: every call allocates.
// Control thread only; callbacks run on the io_context's thread.
class AsioScheduler final : public health::Scheduler {
 public:
  explicit AsioScheduler(boost::asio::io_context& ioc);
  // stop(). Must run before the io_context is destroyed.
  ~AsioScheduler() override;

  AsioScheduler(const AsioScheduler&) = delete;
  AsioScheduler& operator=(const AsioScheduler&) = delete;

  Clock::time_point now() const override;
  void call_after(Clock::duration delay, std::function<void()> fn) override;

  // Cancels every pending call: none of them runs, not even one whose timer has
  // already expired and is queued to run. Later call_after calls are dropped. Final.
  void stop();

  std::size_t pending() const;

 private:
  struct State;
  boost::asio::io_context& ioc_;
  std::shared_ptr<State> state_;  // shared only so that timer handlers can hold a weak_ptr
};

}  // namespace keel::control
