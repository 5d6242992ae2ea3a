// Admin changes in cluster mode: one etcd transaction each, guarded by the
// revisions this instance applied (create-only for an add, mod_revision for a
// change), answered once the watch has brought the change back here.
#include "proxy/cluster/cluster_agent.hpp"

#include "proxy/log/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace keel::cluster {
namespace {

namespace asio = boost::asio;

// How long a written change may take to come back through the watch before
// the caller is told it is not applied here yet.
constexpr auto kApplyDeadline = std::chrono::seconds(5);
constexpr int kRetryAfterSeconds = 2;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

admin::Outcome unavailable(std::string message) {
  return admin::Outcome{.status = 503, .error = std::move(message), .pending = nullptr,
                        .retry_after_seconds = kRetryAfterSeconds};
}

admin::Outcome conflict(std::string message) {
  return admin::Outcome{.status = 409, .error = std::move(message), .pending = nullptr, .retry_after_seconds = 0};
}

}  // namespace

class ClusterAgent::Pending final : public admin::PendingChange {
 public:
  explicit Pending(int success) : success_(success) {}

  void when_done(std::function<void(admin::Outcome)> done) override {
    if (result_) {
      done(std::move(*result_));
      return;
    }
    done_ = std::move(done);
  }
  void finish(admin::Outcome outcome) {
    if (finished_) return;
    finished_ = true;
    if (done_)
      done_(std::move(outcome));
    else
      result_ = std::move(outcome);
  }
  int success() const { return success_; }

 private:
  int success_;
  bool finished_ = false;
  std::optional<admin::Outcome> result_;
  std::function<void(admin::Outcome)> done_;
};

// A change is judged against what this instance applied (404, 409, the
// revisions it guards with): not before it follows etcd.
std::optional<admin::Outcome> ClusterAgent::refuse_unless_current() const {
  if (!running_) return unavailable("keel is stopping");
  if (!connected_) return unavailable("etcd cannot be reached; the change was not made (retry later)");
  if (!watching_) return unavailable("not yet following etcd's changes; the change was not made (retry later)");
  return std::nullopt;
}

admin::Outcome ClusterAgent::submit(std::vector<Compare> compares, std::vector<Operation> operations,
                                    std::string what) {
  if (auto refused = refuse_unless_current()) return *refused;
  auto pending = std::make_shared<Pending>(200);
  asio::co_spawn(io_, run_write(pending, txn_request(compares, operations), std::move(what)), asio::detached);
  return admin::Outcome{.status = 202, .error = {}, .pending = pending, .retry_after_seconds = 0};
}

asio::awaitable<void> ClusterAgent::run_write(std::shared_ptr<Pending> pending, std::string body, std::string what) {
  auto alive = alive_;
  auto reply = co_await client_.call(kTxnPath, std::move(body));
  if (!*alive || !running_) {
    pending->finish(unavailable("keel is stopping"));
    co_return;
  }
  if (!reply.ok()) {
    pending->finish(failed_write(reply, what));
    co_return;
  }
  if (!txn_succeeded(*reply.result)) {
    pending->finish(conflict("another change to the same backend got there first (on another instance or "
                             "through etcd); read the pool and retry"));
    co_return;
  }
  const auto header = read_header(*reply.result);
  const std::int64_t revision = header ? header->revision : 0;
  log::info("cluster: " + what + " written to etcd at revision " + std::to_string(revision));
  if (view_.revision() >= revision) {
    pending->finish(admin::Outcome{.status = 200, .error = {}, .pending = nullptr, .retry_after_seconds = 0});
    co_return;
  }
  waiters_.push_back({.revision = revision, .deadline = Clock::now() + kApplyDeadline, .pending = pending});
}

// Outside run_write: GCC 12 miscompiles conditional temporaries in coroutines.
admin::Outcome ClusterAgent::failed_write(const EtcdReply& reply, const std::string& what) {
  if (!reply.unavailable())
    return admin::Outcome{.status = 500, .error = "etcd refused the change: " + reply.describe(), .pending = nullptr,
                          .retry_after_seconds = 0};
  set_connected(false, reply.describe());
  if (reply.sent) {  // sent but not answered: etcd may still commit it when it recovers
    log::warn("cluster: " + what + " unconfirmed: etcd unavailable (" + reply.describe() + ")");
    return unavailable("etcd did not confirm the change in time (" + reply.describe() +
                       "); it may still be applied once etcd has a quorum again: read the pool before retrying");
  }
  log::warn("cluster: " + what + " not made: etcd unavailable (" + reply.describe() + ")");
  return unavailable("etcd is unavailable (" + reply.describe() + "); the change was not made");
}

void ClusterAgent::release_waiters() {
  const auto revision = view_.revision();
  std::vector<std::shared_ptr<Pending>> done;
  std::erase_if(waiters_, [&](const Waiter& waiter) {
    if (waiter.revision > revision) return false;
    done.push_back(waiter.pending);
    return true;
  });
  for (auto& pending : done)
    pending->finish(admin::Outcome{.status = 200, .error = {}, .pending = nullptr, .retry_after_seconds = 0});
}

void ClusterAgent::fail_waiters(const std::string& why) {
  auto waiting = std::move(waiters_);
  waiters_.clear();
  for (auto& waiter : waiting) waiter.pending->finish(unavailable(why));
}

void ClusterAgent::expire_waiters() {
  const auto now = Clock::now();
  std::vector<std::shared_ptr<Pending>> late;
  std::erase_if(waiters_, [&](const Waiter& waiter) {
    if (now < waiter.deadline) return false;
    late.push_back(waiter.pending);
    return true;
  });
  for (auto& pending : late)
    pending->finish(unavailable("the change is in etcd but has not reached this instance yet; it will apply "
                                "when the watch catches up"));
}

admin::Outcome ClusterAgent::add(const std::string& pool, const std::string& endpoint, const BackendValue& value) {
  if (auto refused = refuse_unless_current()) return *refused;
  const std::string key = layout_.backend(pool, endpoint);
  const KeyValue* existing = view_.find(key);
  std::string problem;
  const auto current = existing ? decode_backend(existing->value, problem) : std::nullopt;
  if (current && current->state != BackendState::removing)
    return conflict("backend " + value.address + " is already in pool '" + pool + "'" +
                    (current->address == value.address ? "" : " (as " + current->address + ")"));
  BackendValue added = value;
  added.state = BackendState::active;
  // Absent: create-only. Draining out (or unreadable): only if nobody changed it since.
  const Compare guard = existing ? Compare{.target = Compare::Target::mod, .key = key, .revision = existing->mod_revision}
                                 : Compare{.target = Compare::Target::create, .key = key, .revision = 0};
  auto outcome = submit({guard}, {{.kind = Operation::Kind::put, .key = key, .value = encode(added), .lease = 0}},
                        "pool " + pool + ": add " + value.address);
  if (outcome.pending) outcome.status = 201;
  return outcome;
}

// A backend etcd lists and is not removing, with the revision to guard a change by.
std::optional<ClusterAgent::Listed> ClusterAgent::listed(const std::string& pool, const std::string& endpoint) const {
  Listed out{.key = layout_.backend(pool, endpoint), .mod_revision = 0, .value = {}};
  const KeyValue* existing = view_.find(out.key);
  if (!existing) return std::nullopt;
  std::string problem;
  auto value = decode_backend(existing->value, problem);
  if (!value || value->state == BackendState::removing) return std::nullopt;
  out.mod_revision = existing->mod_revision;
  out.value = std::move(*value);
  return out;
}

admin::Outcome ClusterAgent::not_listed(const std::string& pool, const std::string& endpoint) {
  return admin::Outcome{.status = 404, .error = "no backend " + endpoint + " in pool '" + pool + "'",
                        .pending = nullptr, .retry_after_seconds = 0};
}

admin::Outcome ClusterAgent::change(const std::string& pool, const std::string& endpoint,
                                    std::optional<std::uint32_t> weight, std::optional<BackendState> state) {
  if (auto refused = refuse_unless_current()) return *refused;
  auto found = listed(pool, endpoint);
  if (!found) return not_listed(pool, endpoint);
  const std::string key = found->key;
  auto current = std::optional<BackendValue>(found->value);
  if (weight) current->weight = *weight;
  if (state) current->state = *state;
  return submit({{.target = Compare::Target::mod, .key = key, .revision = found->mod_revision}},
                {{.kind = Operation::Kind::put, .key = key, .value = encode(*current), .lease = 0}},
                "pool " + pool + ": change " + current->address);
}

admin::Outcome ClusterAgent::remove(const std::string& pool, const std::string& endpoint) {
  if (auto refused = refuse_unless_current()) return *refused;
  auto found = listed(pool, endpoint);
  if (!found) return not_listed(pool, endpoint);
  const std::string key = found->key;
  auto current = std::optional<BackendValue>(found->value);
  current->state = BackendState::removing;
  current->removed_at_ms = now_ms();
  auto outcome = submit({{.target = Compare::Target::mod, .key = key, .revision = found->mod_revision}},
                        {{.kind = Operation::Kind::put, .key = key, .value = encode(*current), .lease = 0}},
                        "pool " + pool + ": remove " + current->address);
  if (outcome.pending) outcome.status = 202;
  return outcome;
}

admin::Outcome ClusterAgent::replace(const std::string& pool,
                                     const std::vector<std::pair<std::string, BackendValue>>& backends) {
  if (auto refused = refuse_unless_current()) return *refused;
  std::vector<Compare> compares;
  std::vector<Operation> operations;
  std::set<std::string> wanted;
  for (const auto& [endpoint, value] : backends) {
    const std::string key = layout_.backend(pool, endpoint);
    wanted.insert(key);
    const KeyValue* existing = view_.find(key);
    BackendValue next = value;
    std::string problem;
    const auto current = existing ? decode_backend(existing->value, problem) : std::nullopt;
    // Kept backends keep their admin state (draining stays draining), as without a cluster.
    next.state = current && current->state == BackendState::draining ? BackendState::draining : BackendState::active;
    compares.push_back(existing ? Compare{.target = Compare::Target::mod, .key = key, .revision = existing->mod_revision}
                                : Compare{.target = Compare::Target::create, .key = key, .revision = 0});
    operations.push_back({.kind = Operation::Kind::put, .key = key, .value = encode(next), .lease = 0});
  }
  const auto removed_at = now_ms();
  for (const auto& backend : view_.backends(pool)) {
    if (wanted.count(backend.key) || backend.value.state == BackendState::removing) continue;
    BackendValue leaving = backend.value;
    leaving.state = BackendState::removing;
    leaving.removed_at_ms = removed_at;
    compares.push_back({.target = Compare::Target::mod, .key = backend.key, .revision = backend.mod_revision});
    operations.push_back({.kind = Operation::Kind::put, .key = backend.key, .value = encode(leaving), .lease = 0});
  }
  if (operations.empty())
    return admin::Outcome{.status = 200, .error = {}, .pending = nullptr, .retry_after_seconds = 0};
  return submit(std::move(compares), std::move(operations),
                "pool " + pool + ": replace the backend set (" + std::to_string(backends.size()) + " backend(s))");
}

}  // namespace keel::cluster
