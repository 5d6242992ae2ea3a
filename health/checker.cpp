#include "health/checker.hpp"

#include <algorithm>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace keel::health {
namespace {

using Clock = Scheduler::Clock;

// The first probes of a pool spread over at most this long: enough to avoid a
// burst, short enough that a new backend gets traffic soon.
constexpr Clock::duration kMaxFirstDelay = std::chrono::milliseconds(500);
// A zero or negative interval would probe in a busy loop.
constexpr Clock::duration kMinInterval = std::chrono::milliseconds(1);

}  // namespace

struct Checker::Impl : std::enable_shared_from_this<Checker::Impl> {
  struct Target {
    std::string pool;
    ProbeTarget target;
    CheckSettings settings;
    ThresholdTracker tracker;
    // Every callback carries the generation of the target it was made for and the
    // token of its timer or probe; a mismatch means it is stale. Both come from
    // one counter, so a removed and re-added id never matches an old callback.
    std::uint64_t generation = 0;
    std::uint64_t timer = 0;  // the pending call that starts the next probe; 0: none
    std::uint64_t probe = 0;  // the probe in flight; 0: none
    bool overdue = false;     // the next probe came due while one was running
    std::optional<Clock::time_point> last_start{};
    std::optional<CheckReport> last_report{};
  };

  Impl(Prober& p, Scheduler& s, OnChange c, std::uint32_t seed)
      : prober(p), scheduler(s), on_change(std::move(c)), rng(seed) {}

  Target* find(std::uint64_t id, std::uint64_t generation) {
    const auto it = targets.find(id);
    if (it == targets.end() || it->second.generation != generation) return nullptr;
    return &it->second;
  }

  void set_targets(const std::string& pool, const CheckSettings& settings,
                   std::vector<ProbeTarget> wanted);
  void add(const std::string& pool, const CheckSettings& settings, ProbeTarget target);
  void update(Target& t, const std::string& pool, const CheckSettings& settings,
              ProbeTarget target);
  void schedule(std::uint64_t id, Target& t, Clock::duration delay);
  void on_due(std::uint64_t id, std::uint64_t generation, std::uint64_t timer);
  void start_probe(std::uint64_t id, Target& t);
  void on_result(std::uint64_t id, std::uint64_t generation, std::uint64_t probe,
                 ProbeResult result);
  void record_report(Target& t, const ProbeResult& result);
  Clock::duration first_delay(std::chrono::milliseconds interval);
  Clock::duration next_delay(std::chrono::milliseconds interval);

  Prober& prober;
  Scheduler& scheduler;
  OnChange on_change;
  std::mt19937 rng;
  std::unordered_map<std::uint64_t, Target> targets;  // by backend id
  std::uint64_t last_token = 0;
  bool stopped = false;
};

void Checker::Impl::set_targets(const std::string& pool, const CheckSettings& settings,
                                std::vector<ProbeTarget> wanted) {
  if (stopped) return;
  std::unordered_set<std::uint64_t> kept;
  for (auto& target : wanted) {
    const auto id = target.backend_id;
    if (!kept.insert(id).second) continue;  // a duplicate id: the first one wins
    if (const auto it = targets.find(id); it != targets.end())
      update(it->second, pool, settings, std::move(target));
    else
      add(pool, settings, std::move(target));
  }
  std::erase_if(targets, [&](const auto& entry) {
    return entry.second.pool == pool && !kept.contains(entry.first);
  });
}

void Checker::Impl::add(const std::string& pool, const CheckSettings& settings,
                        ProbeTarget target) {
  const auto id = target.backend_id;
  Target t{.pool = pool,
           .target = std::move(target),
           .settings = settings,
           .tracker = ThresholdTracker(settings.healthy_threshold, settings.unhealthy_threshold),
           .generation = ++last_token};
  auto& stored = targets.insert_or_assign(id, std::move(t)).first->second;
  schedule(id, stored, first_delay(settings.interval));
}

void Checker::Impl::update(Target& t, const std::string& pool, const CheckSettings& settings,
                           ProbeTarget target) {
  t.pool = pool;
  t.target = std::move(target);  // the same backend_id
  if (settings.healthy_threshold != t.settings.healthy_threshold ||
      settings.unhealthy_threshold != t.settings.unhealthy_threshold) {
    // The health stays; the runs towards the old thresholds start over.
    t.tracker = ThresholdTracker(settings.healthy_threshold, settings.unhealthy_threshold,
                                 t.tracker.state());
  }
  const bool interval_changed = settings.interval != t.settings.interval;
  t.settings = settings;
  // Going from 1m to 2s must not wait out the old minute. Before the first probe
  // the pending delay is short anyway, and an overdue probe starts on completion.
  if (interval_changed && t.last_start && !t.overdue) {
    const auto due = *t.last_start + next_delay(settings.interval);
    schedule(t.target.backend_id, t, std::max(due - scheduler.now(), Clock::duration::zero()));
  }
}

void Checker::Impl::schedule(std::uint64_t id, Target& t, Clock::duration delay) {
  t.timer = ++last_token;
  scheduler.call_after(delay, [weak = weak_from_this(), id, generation = t.generation,
                               timer = t.timer] {
    if (const auto self = weak.lock()) self->on_due(id, generation, timer);
  });
}

void Checker::Impl::on_due(std::uint64_t id, std::uint64_t generation, std::uint64_t timer) {
  Target* t = find(id, generation);
  if (t == nullptr || t->timer != timer) return;
  t->timer = 0;
  if (t->probe != 0) {
    t->overdue = true;
    return;
  }
  start_probe(id, *t);
}

void Checker::Impl::start_probe(std::uint64_t id, Target& t) {
  t.overdue = false;
  t.probe = ++last_token;
  t.last_start = scheduler.now();
  schedule(id, t, next_delay(t.settings.interval));
  // Copies: probe() may complete at once, and on_change may then change `targets`.
  const ProbeTarget target = t.target;
  const CheckSettings settings = t.settings;
  prober.probe(target, settings, [weak = weak_from_this(), id, generation = t.generation,
                                  probe = t.probe](ProbeResult result) {
    if (const auto self = weak.lock()) self->on_result(id, generation, probe, std::move(result));
  });
}

void Checker::Impl::on_result(std::uint64_t id, std::uint64_t generation, std::uint64_t probe,
                              ProbeResult result) {
  Target* t = find(id, generation);
  if (t == nullptr || t->probe != probe) return;  // stale, or a second call of done
  t->probe = 0;
  record_report(*t, result);
  const auto changed = t->tracker.record(result.passed);
  // Report before starting an overdue probe, so that changes are reported in the
  // order of the results even if that probe completes at once.
  if (changed && on_change) {
    on_change(id, *changed, result.detail);
    t = find(id, generation);  // on_change may have changed the targets
    if (t == nullptr) return;
  }
  if (t->overdue && t->probe == 0) start_probe(id, *t);
}

void Checker::Impl::record_report(Target& t, const ProbeResult& result) {
  const auto now = scheduler.now();
  std::uint32_t consecutive = 1;
  if (t.last_report && t.last_report->passed == result.passed)
    consecutive = std::max(t.last_report->consecutive, t.last_report->consecutive + 1);  // saturates
  t.last_report = CheckReport{.at = now,
                              .passed = result.passed,
                              .detail = result.detail,
                              .latency = t.last_start ? now - *t.last_start : Clock::duration::zero(),
                              .consecutive = consecutive};
}

Clock::duration Checker::Impl::first_delay(std::chrono::milliseconds interval) {
  const Clock::duration bound =
      std::min<Clock::duration>(std::max<Clock::duration>(interval, kMinInterval), kMaxFirstDelay);
  std::uniform_int_distribution<Clock::rep> pick(0, bound.count() - 1);
  return Clock::duration(pick(rng));
}

Clock::duration Checker::Impl::next_delay(std::chrono::milliseconds interval) {
  const Clock::duration base = std::max<Clock::duration>(interval, kMinInterval);
  const Clock::rep spread = base.count() / 10;
  std::uniform_int_distribution<Clock::rep> pick(-spread, spread);
  return base + Clock::duration(pick(rng));
}

Checker::Checker(Prober& prober, Scheduler& scheduler, OnChange on_change, std::uint32_t seed)
    : impl_(std::make_shared<Impl>(prober, scheduler, std::move(on_change), seed)) {}

Checker::~Checker() { stop(); }

void Checker::set_targets(const std::string& pool, const CheckSettings& settings,
                          std::vector<ProbeTarget> targets) {
  impl_->set_targets(pool, settings, std::move(targets));
}

void Checker::remove_pool(const std::string& pool) {
  std::erase_if(impl_->targets, [&](const auto& entry) { return entry.second.pool == pool; });
}

Health Checker::health(std::uint64_t backend_id) const {
  const auto it = impl_->targets.find(backend_id);
  return it == impl_->targets.end() ? Health::unknown : it->second.tracker.state();
}

std::optional<CheckReport> Checker::last_check(std::uint64_t backend_id) const {
  const auto it = impl_->targets.find(backend_id);
  if (it == impl_->targets.end()) return std::nullopt;
  return it->second.last_report;
}

void Checker::stop() {
  impl_->stopped = true;
  impl_->targets.clear();
}

}  // namespace keel::health
