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
  draining_count_ = 0;
  next_readmission_ = Clock::time_point::max();
  const auto now = Clock::now();
  for (const auto& next : snapshot.backends) {
    boost::intrusive_ptr<BackendState> state;
    std::int64_t carried_current = 0;
    if (auto found = old_index.find(next.id); found != old_index.end()) {
      state = backends_[found->second];
      carried_current = current_[found->second];
      old_index.erase(found);
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
    if (passive_changed || (passive_ && !state->passive))
      state->passive.reset();
    if (passive_ && !state->passive) state->passive.emplace(passive_->max_fails, passive_->fail_timeout);

    state->eligible = next.is_eligible();
    if (next.draining) ++draining_count_;
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

void PoolView::report_failure(BackendState& backend) {
  if (!backend.passive) return;
  const auto now = Clock::now();
  if (backend.passive->record_failure(now) && backend.view == this) refresh_ejections(now);
}

void PoolView::report_success(BackendState& backend) {
  if (backend.passive) backend.passive->record_success();
}

PoolView::Unavailable PoolView::why_unavailable() const {
  if (backends_.empty()) return Unavailable::no_backends;
  if (draining_count_ == backends_.size()) return Unavailable::all_draining;
  return Unavailable::none_healthy;  // unhealthy, ejected, awaiting a first check, or a mix with draining
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
