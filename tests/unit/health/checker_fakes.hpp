// Test doubles for the health checker: a scheduler that advances virtual time and
// a prober whose results and completion the test scripts per target.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "health/checker.hpp"

namespace keel::health::fakes {

using namespace std::chrono_literals;
using Clock = Scheduler::Clock;

// Virtual time: nothing runs until the test advances the clock.
class ManualScheduler final : public Scheduler {
 public:
  Clock::time_point now() const override { return now_; }

  void call_after(Clock::duration delay, std::function<void()> fn) override {
    calls_.emplace(Key{now_ + std::max(delay, Clock::duration::zero()), next_seq_++},
                   std::move(fn));
  }

  // Runs every call due by `until`, in time order (ties in the order they were
  // made), each at its own time; calls made meanwhile run too if due. Ends at `until`.
  void advance_to(Clock::time_point until) {
    while (!calls_.empty() && calls_.begin()->first.first <= until) {
      auto node = calls_.extract(calls_.begin());
      now_ = node.key().first;
      node.mapped()();
    }
    now_ = std::max(now_, until);
  }
  void advance(Clock::duration d) { advance_to(now_ + d); }

  std::size_t pending() const { return calls_.size(); }

 private:
  using Key = std::pair<Clock::time_point, std::uint64_t>;
  std::map<Key, std::function<void()>> calls_;
  std::uint64_t next_seq_ = 0;
  Clock::time_point now_ = Clock::time_point{} + 1h;
};

// What one probe of a target does:
//   P  pass ("status 200") after `latency`
//   F  fail ("status 500") after `latency`
//   T  fail ("timed out") after the whole settings.timeout
//   S  pass at once, before probe() returns
//   H  held until the test calls complete()
using Behaviour = std::function<char(std::size_t index, Clock::time_point start)>;

// `script[i]` for the i-th probe; the last letter repeats.
inline Behaviour scripted(std::string script) {
  return [script](std::size_t index, Clock::time_point) {
    return script[std::min(index, script.size() - 1)];
  };
}

// `before` for probes started before `at`, then `after`: a backend that goes down at `at`.
inline Behaviour switches_at(Clock::time_point at, char before, char after) {
  return [=](std::size_t, Clock::time_point start) { return start < at ? before : after; };
}

class FakeProber final : public Prober {
 public:
  struct Call {
    std::uint64_t id;
    std::string address;
    CheckSettings settings;
    Clock::time_point start;
  };

  explicit FakeProber(ManualScheduler& scheduler) : scheduler_(scheduler) {}

  void set_behaviour(std::uint64_t id, Behaviour behaviour) { behaviours_[id] = behaviour; }
  void set_latency(Clock::duration latency) { latency_ = latency; }

  void probe(const ProbeTarget& target, const CheckSettings& settings, Done done) override {
    const auto id = target.backend_id;
    calls.push_back({id, target.address, settings, scheduler_.now()});
    if (in_flight_[id]++ > 0) ++overlaps;
    const auto it = behaviours_.find(id);
    const char what = it == behaviours_.end() ? 'P' : it->second(probe_count_[id], scheduler_.now());
    ++probe_count_[id];
    Done finish = [this, id, done = std::move(done)](ProbeResult result) {
      --in_flight_[id];
      completions.push_back({id, scheduler_.now()});
      done(std::move(result));
    };
    switch (what) {
      case 'S':
        finish({true, "status 200"});
        return;
      case 'H':
        held_[id].push_back(std::move(finish));
        return;
      case 'T':
        later(settings.timeout, std::move(finish),
              {false, "timeout after " + std::to_string(settings.timeout.count()) + "ms"});
        return;
      case 'F':
        later(latency_, std::move(finish), {false, "status 500"});
        return;
      default:
        later(latency_, std::move(finish), {true, "status 200"});
        return;
    }
  }

  // Completes the oldest held probe of `id`; false if none is held.
  bool complete(std::uint64_t id, ProbeResult result) {
    auto& queue = held_[id];
    if (queue.empty()) return false;
    auto finish = std::move(queue.front());
    queue.pop_front();
    finish(std::move(result));
    return true;
  }

  int in_flight(std::uint64_t id) { return in_flight_[id]; }

  std::vector<Call> calls_for(std::uint64_t id) const {
    std::vector<Call> out;
    for (const auto& call : calls)
      if (call.id == id) out.push_back(call);
    return out;
  }

  std::vector<Call> calls;
  std::vector<std::pair<std::uint64_t, Clock::time_point>> completions;
  int overlaps = 0;

 private:
  void later(Clock::duration delay, Done finish, ProbeResult result) {
    scheduler_.call_after(delay, [finish = std::move(finish), result = std::move(result)] {
      finish(result);
    });
  }

  ManualScheduler& scheduler_;
  Clock::duration latency_ = 10ms;
  std::map<std::uint64_t, Behaviour> behaviours_;
  std::map<std::uint64_t, int> in_flight_;
  std::map<std::uint64_t, std::size_t> probe_count_;
  std::map<std::uint64_t, std::deque<Done>> held_;
};

struct Change {
  std::uint64_t id;
  Health health;
  std::string detail;
  Clock::time_point at;
};

// Scheduler, prober and checker wired together, with the changes it reports.
struct Rig {
  explicit Rig(std::uint32_t seed = 1)
      : checker(prober, scheduler,
                [this](std::uint64_t id, Health health, const std::string& detail) {
                  changes.push_back({id, health, detail, scheduler.now()});
                  if (on_change) on_change(id, health);
                },
                seed) {}

  std::vector<Health> healths_of(std::uint64_t id) const {
    std::vector<Health> out;
    for (const auto& change : changes)
      if (change.id == id) out.push_back(change.health);
    return out;
  }

  ManualScheduler scheduler;
  FakeProber prober{scheduler};
  std::vector<Change> changes;
  std::function<void(std::uint64_t, Health)> on_change;
  Checker checker;
};

inline std::vector<ProbeTarget> targets(std::initializer_list<std::uint64_t> ids) {
  std::vector<ProbeTarget> out;
  for (const auto id : ids) out.push_back({id, "10.0.0." + std::to_string(id) + ":80"});
  return out;
}

inline const CheckSettings kDefaults{};

}  // namespace keel::health::fakes
