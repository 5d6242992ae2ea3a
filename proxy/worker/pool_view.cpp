#include "proxy/worker/pool_view.hpp"

#include <array>
#include <unordered_map>

namespace keel::worker {

BackendState::~BackendState() = default;

BackendLease::BackendLease(boost::intrusive_ptr<BackendState> backend)
    : backend_(std::move(backend)) {
  ++backend_->in_flight;
  if (backend_->view) ++backend_->view->in_flight_[backend_->index];
  if (auto* counters = backend_->counters) {
    counters->bump(counters->in_flight, 1);
    counters->bump(counters->total, 1);
  }
}

BackendLease& BackendLease::operator=(BackendLease&& other) noexcept {
  if (this != &other) {
    release();
    backend_ = std::move(other.backend_);
  }
  return *this;
}

void BackendLease::release() {
  if (!backend_) return;
  --backend_->in_flight;
  if (backend_->view) --backend_->view->in_flight_[backend_->index];
  if (auto* counters = backend_->counters) counters->bump(counters->in_flight, -1);
  backend_.reset();
}

PoolView::PoolView(const control::PoolSnapshot& snapshot, std::size_t worker_index)
    : worker_index_(worker_index) {
  reconcile(snapshot);
}

PoolView::~PoolView() {
  for (auto& backend : backends_) {
    backend->view = nullptr;
    backend->eligible = false;
    backend->idle.clear();
  }
}

void PoolView::reconcile(const control::PoolSnapshot& snapshot) {
  name_ = snapshot.name;
  balance_ = snapshot.balance;
  retries_ = snapshot.retries;
  // New TLS settings (a reload): parked connections made with the old ones go.
  const bool tls_changed = tls_ != snapshot.tls;
  tls_ = snapshot.tls;
  const bool passive_changed =
      snapshot.passive.has_value() != passive_.has_value() ||
      (passive_ && (passive_->max_fails != snapshot.passive->max_fails ||
                    passive_->fail_timeout != snapshot.passive->fail_timeout));
  passive_ = snapshot.passive;
  if (stats_ != snapshot.stats) {
    stats_ = snapshot.stats;
    counters_ = stats_ ? &stats_->worker(worker_index_) : nullptr;
  }
  holds_when_empty_ = snapshot.holds_when_empty;
  serving_or_failing_ = 0;
  if (wait_stats_ != snapshot.wait_stats) {
    wait_stats_ = snapshot.wait_stats;
    waiters_.set_counters(wait_stats_ ? &wait_stats_->worker(worker_index_) : nullptr);
  }

  std::unordered_map<std::uint64_t, std::size_t> old_index;
  old_index.reserve(backends_.size());
  for (std::size_t i = 0; i < backends_.size(); ++i) old_index.emplace(backends_[i]->id, i);

  std::vector<boost::intrusive_ptr<BackendState>> backends;
  std::vector<std::int64_t> current;
  backends.reserve(snapshot.backends.size());
  current.reserve(snapshot.backends.size());
  candidates_.clear();
  in_flight_.clear();
  snapshot_eligible_.clear();
  ejected_count_ = 0;
  next_readmission_ = Clock::time_point::max();
  const auto now = Clock::now();
  for (const auto& next : snapshot.backends) {
    boost::intrusive_ptr<BackendState> state;
    std::int64_t carried_current = 0;
    if (auto found = old_index.find(next.id); found != old_index.end()) {
      state = backends_[found->second];
      carried_current = current_[found->second];
      old_index.erase(found);
      // Its name resolved elsewhere (reload, `resolve`): new connections go to
      // the new address, and parked ones to the old address are not reused.
      if (state->endpoint != next.endpoint) {
        state->endpoint = next.endpoint;
        state->idle.clear();
      }
    } else {
      state = new BackendState();
      state->id = next.id;
      state->address = next.address;
      state->endpoint = next.endpoint;
    }
    if (state->stats != next.stats) {
      state->stats = next.stats;
      state->counters = next.stats ? &next.stats->worker(worker_index_) : nullptr;
    }
    if (passive_changed || (passive_ && !state->passive)) {
      state->passive.reset();  // and with it any ejection this worker published
      if (state->counters) state->counters->ejected_until_ns.store(0, std::memory_order_release);
    }
    if (passive_ && !state->passive) state->passive.emplace(passive_->max_fails, passive_->fail_timeout);

    state->eligible = next.is_eligible();
    using Out = BackendState::Out;
    state->out = next.draining                                ? Out::draining
                 : next.health == health::Health::unhealthy  ? Out::unhealthy
                 : !state->eligible                          ? Out::awaiting_check
                                                             : Out::no;
    if (state->eligible || (!next.draining && next.health == health::Health::unhealthy)) ++serving_or_failing_;
    if (!state->eligible || tls_changed) state->idle.clear();  // draining: no reuse of its connections either
    state->view = this;
    state->index = backends.size();
    bool eligible = state->eligible;
    snapshot_eligible_.push_back(eligible);
    if (eligible && state->passive && state->passive->is_ejected(now)) {
      eligible = false;
      ++ejected_count_;
      next_readmission_ = std::min(next_readmission_, *state->passive->ejected_until());
    }
    candidates_.push_back({.weight = next.weight, .eligible = eligible});
    in_flight_.push_back(state->in_flight);
    current.push_back(carried_current);
    backends.push_back(std::move(state));
  }
  for (const auto& [id, index] : old_index) {  // removed from the pool
    auto& gone = backends_[index];
    gone->view = nullptr;
    gone->eligible = false;
    gone->idle.clear();
  }
  backends_ = std::move(backends);
  current_ = std::move(current);
  waiters_.wake_all();
}

void PoolView::refresh_ejections(Clock::time_point now) {
  ejected_count_ = 0;
  next_readmission_ = Clock::time_point::max();
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    const auto& backend = *backends_[i];
    bool eligible = snapshot_eligible_[i];
    if (eligible && backend.passive && backend.passive->is_ejected(now)) {
      eligible = false;
      ++ejected_count_;
      next_readmission_ = std::min(next_readmission_, *backend.passive->ejected_until());
    }
    candidates_[i].eligible = eligible;
  }
}

void PoolView::unavailable_reason(std::string& out) const {
  out.append("no backend available in pool ").append(name_).append(":");
  if (backends_.empty()) {
    out.append(" it has no backends");
    return;
  }
  std::size_t unhealthy = 0, draining = 0, awaiting = 0, ejected = 0;
  const auto now = Clock::now();
  for (const auto& backend : backends_) {
    switch (backend->out) {
      case BackendState::Out::draining: ++draining; break;
      case BackendState::Out::unhealthy: ++unhealthy; break;
      case BackendState::Out::awaiting_check: ++awaiting; break;
      case BackendState::Out::no: ejected += backend->passive && backend->passive->is_ejected(now); break;
    }
  }
  const char* separator = " ";
  const auto add = [&](std::size_t count, const char* what) {
    if (count == 0) return;
    out.append(separator).append(std::to_string(count)).append(" ").append(what);
    separator = ", ";
  };
  add(unhealthy, "unhealthy");
  add(ejected, "ejected by passive checks");
  add(draining, "draining");
  add(awaiting, "awaiting a first health check");
  if (*separator == ' ') out.append(" none eligible");  // not expected: every cause is counted above
}

void PoolView::report_failure(BackendState& backend, health::LiveFailure kind) {
  if (!backend.passive) return;
  const auto now = Clock::now();
  if (!backend.passive->record_failure(now, kind)) return;
  if (backend.counters)
    backend.counters->publish_ejection(*backend.passive->ejected_until(), backend.passive->ejection_cause());
  if (backend.view == this) refresh_ejections(now);
}

void PoolView::report_success(BackendState& backend) {
  if (backend.passive) backend.passive->record_success();
}

BackendLease PoolView::pick(std::span<const std::uint64_t> tried) {
  if (ejected_count_ > 0 && Clock::now() >= next_readmission_) refresh_ejections(Clock::now());
  std::array<std::size_t, 16> excluded{};
  std::size_t excluded_count = 0;
  for (std::uint64_t id : tried) {
    for (std::size_t i = 0; i < backends_.size() && excluded_count < excluded.size(); ++i)
      if (backends_[i]->id == id) excluded[excluded_count++] = i;
  }
  const balancer::Exclusion exclusion(excluded.data(), excluded_count);
  const auto picked =
      balance_ == config::Balance::least_conn
          ? balancer::pick_least_connections(candidates_, in_flight_, current_, exclusion)
          : balancer::pick_smooth_round_robin(candidates_, current_, exclusion);
  if (!picked) return {};
  return BackendLease(backends_[*picked]);
}

}  // namespace keel::worker
