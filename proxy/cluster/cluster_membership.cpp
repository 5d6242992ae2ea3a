// This instance in the cluster: its lease and report (load, applied revision,
// requests still on removed backends), the leader election, and what only the
// leader does: gather every instance's load and finish cluster-wide drains.
//
// Cost on etcd, per second, with N instances (docs/cluster.md "Cost"): one
// report write per loaded instance (N, written only when it changed, at most
// once a second), one keepalive per instance every lease_ttl/3, one leader
// check (a transaction that writes nothing unless the leader is gone) per
// instance, one range of members/ by the leader and one every 5 s by the
// others. Reports are not watched, so a write costs one revision, not N events.
#include "proxy/cluster/cluster_agent.hpp"

#include "proxy/log/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cmath>

namespace keel::cluster {
namespace {

namespace asio = boost::asio;

constexpr auto kSampleInterval = std::chrono::milliseconds(100);
constexpr auto kSamplesPerAverage = 10;  // 1 s
constexpr auto kReportInterval = std::chrono::milliseconds(1'000);
constexpr auto kLeaderMembersInterval = std::chrono::milliseconds(1'000);
constexpr auto kMembersInterval = std::chrono::milliseconds(5'000);
constexpr auto kKeepUpCheckInterval = std::chrono::milliseconds(5'000);

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void ClusterAgent::sample_load() {
  for (const auto& [pool, load] : host_.load_now()) {
    auto& samples = load_samples_[pool];
    samples.push_back(load);
    if (samples.size() > kSamplesPerAverage) samples.erase(samples.begin());
  }
}

asio::awaitable<bool> ClusterAgent::ensure_lease() {
  const auto now = Clock::now();
  if (lease_ != 0 && now < next_keepalive_) co_return true;
  const auto ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(settings_.lease_ttl).count();
  if (lease_ != 0) {
    // Named locals, not temporaries, as coroutine arguments: GCC 12 (see admin_server.cpp).
    std::string body = lease_keepalive_request(lease_);
    auto reply = co_await client_.call(kLeaseKeepalivePath, std::move(body));
    if (!running_) co_return false;
    // The keepalive answers {"result":{...,"TTL":...}}; a lease that expired has no TTL.
    if (lease_alive(reply)) {
      set_connected(true, {});
      next_keepalive_ = now + settings_.lease_ttl / 3;
      lease_confirmed_ = now;
      co_return true;
    }
    if (!reply.ok() && reply.unavailable()) {
      set_connected(false, reply.describe());
      // etcd has let the lease go by now: so has the leadership.
      if (now - lease_confirmed_ >= settings_.lease_ttl) {
        lease_ = 0;
        if (is_leader_) set_leader({});
      }
      co_return false;
    }
    log::warn("cluster: lease of instance " + instance_ + " expired; registering again");
    lease_ = 0;
    last_report_.clear();
    if (leader_ == instance_) set_leader(std::string());
  }
  std::string grant = lease_grant_request(ttl_seconds);
  auto reply = co_await client_.call(kLeaseGrantPath, std::move(grant));
  if (!running_ || !reply.ok()) co_return false;
  const auto id = read_int64(*reply.result, "ID");
  if (!id || *id == 0) co_return false;
  lease_ = *id;
  next_keepalive_ = now + settings_.lease_ttl / 3;
  lease_confirmed_ = now;
  last_report_.clear();
  log::info("cluster: instance " + instance_ + " registered (lease " + std::to_string(lease_) + ", ttl " +
            std::to_string(ttl_seconds) + "s)");
  co_return true;
}

asio::awaitable<void> ClusterAgent::report() {
  MemberValue value{.instance = instance_, .started = started_, .applied_revision = view_.revision(), .load = {},
                    .draining = {}};
  for (const auto& [pool, samples] : load_samples_) {
    if (samples.empty()) continue;
    MemberValue::Load average;
    for (const auto& sample : samples) average.concurrency += sample.concurrency;
    average.concurrency = std::round(average.concurrency / static_cast<double>(samples.size()) * 100) / 100;
    average.waiting = samples.back().waiting;
    value.load[pool] = average;
  }
  value.draining = host_.removing_in_flight();
  // Requests waiting on an empty pool are news for the leader now, not in a second.
  bool urgent = false;
  if (const auto previous = decode_member(last_report_)) {
    for (const auto& [pool, load] : value.load) {
      const auto before = previous->load.find(pool);
      if (load.waiting > 0 && (before == previous->load.end() || before->second.waiting == 0)) urgent = true;
    }
  }
  std::string text = encode(value);
  const auto now = Clock::now();
  if (text == last_report_) co_return;
  if (!urgent && !last_report_.empty() && now - last_report_at_ < kReportInterval) co_return;
  const std::vector<Operation> put{
      {.kind = Operation::Kind::put, .key = layout_.member(instance_), .value = text, .lease = lease_}};
  std::string body = txn_request({}, put);
  auto reply = co_await client_.call(kTxnPath, std::move(body));
  if (!running_ || !reply.ok()) co_return;
  last_report_ = std::move(text);
  last_report_at_ = now;
  members_[instance_] = value;
}

// Helpers of the coroutines above, outside them: GCC 12 miscompiles
// conditional expressions that yield temporaries inside a coroutine.
bool ClusterAgent::lease_alive(const EtcdReply& reply) {
  if (!reply.ok()) return false;
  // The keepalive answers {"result":{...,"TTL":...}}; a lease that expired has no TTL.
  const auto* result = reply.result->if_contains("result");
  if (!result || !result->is_object()) return false;
  const auto ttl = read_int64(result->as_object(), "TTL");
  return ttl && *ttl > 0;
}

void ClusterAgent::learn_leader(const boost::json::object& reply) {
  const auto holders = txn_ranges(reply);
  if (holders.empty())
    set_leader(std::string());
  else
    set_leader(holders.front().value);
}

void ClusterAgent::log_drained(const std::string& pool, const std::string& address, bool idle) {
  if (idle)
    log::info("cluster: pool " + pool + ": backend " + address + " drained on every instance; removed from etcd");
  else
    log::info("cluster: pool " + pool + ": backend " + address +
              " removed from etcd after timeouts.drain with requests still in flight");
}

void ClusterAgent::set_leader(const std::string& leader) {
  const bool was = is_leader_;
  if (leader != leader_) {
    if (leader.empty())
      log::warn("cluster: no leader (was " + leader_ + ")");
    else
      log::info("cluster: leader is " + leader + (leader == instance_ ? " (this instance)" : ""));
  }
  leader_ = leader;
  is_leader_ = leader == instance_ && !leader.empty();
  if (was != is_leader_ && leadership_callback_) leadership_callback_(is_leader_);
}

// Takes the leader key when nobody holds it (it is leased: it goes with its
// holder's lease), else learns who does. Writes nothing while a leader lives.
asio::awaitable<void> ClusterAgent::elect() {
  const std::string key = layout_.leader();
  const std::vector<Compare> absent{{.target = Compare::Target::create, .key = key, .revision = 0}};
  const std::vector<Operation> take{{.kind = Operation::Kind::put, .key = key, .value = instance_, .lease = lease_}};
  const std::vector<Operation> read{{.kind = Operation::Kind::range, .key = key, .value = {}, .lease = 0}};
  std::string body = txn_request(absent, take, read);
  auto reply = co_await client_.call(kTxnPath, std::move(body));
  if (!running_ || !reply.ok()) co_return;
  if (txn_succeeded(*reply.result)) {
    set_leader(instance_);
    co_return;
  }
  learn_leader(*reply.result);
}

asio::awaitable<void> ClusterAgent::refresh_members() {
  const std::string from = layout_.members();
  std::string body = range_request(from, prefix_range_end(from));
  auto reply = co_await client_.call(kRangePath, std::move(body));
  if (!running_ || !reply.ok()) co_return;
  const auto kvs = read_key_values(*reply.result);
  if (!kvs) co_return;
  std::map<std::string, MemberValue> members;
  for (const auto& kv : *kvs)
    if (auto member = decode_member(kv.value)) members.emplace(member->instance, std::move(*member));
  for (const auto& [name, member] : members_)
    if (!members.count(name))
      log::info("cluster: instance " + name + " left (its lease ended)");
  for (const auto& [name, member] : members)
    if (!members_.count(name) && name != instance_) log::info("cluster: instance " + name + " joined");
  members_ = std::move(members);
  members_read_ = Clock::now();
}

std::map<std::string, MemberValue::Load> ClusterAgent::others_load() const {
  std::map<std::string, MemberValue::Load> sum;
  for (const auto& [name, member] : members_) {
    if (name == instance_) continue;
    for (const auto& [pool, load] : member.load) {
      sum[pool].concurrency += load.concurrency;
      sum[pool].waiting += load.waiting;
    }
  }
  return sum;
}

void ClusterAgent::publish_decision(const std::string& pool, const DecisionValue& decision) {
  if (!is_leader_ || !running_) return;
  DecisionValue value = decision;
  value.decided_by = instance_;
  value.at_ms = now_ms();
  const std::string key = layout_.autoscale(pool);
  asio::co_spawn(io_,
                 [this, key, text = encode(value), alive = alive_]() -> asio::awaitable<void> {
                   const std::vector<Operation> put{
                       {.kind = Operation::Kind::put, .key = key, .value = text, .lease = 0}};
                   std::string body = txn_request({}, put);
                   auto reply = co_await client_.call(kTxnPath, std::move(body));
                   if (*alive && !reply.ok())
                     log::warn("cluster: cannot publish the autoscale decision: " + reply.describe());
                 },
                 asio::detached);
}

// A removed backend leaves etcd when every live instance has seen the removal
// and none reports requests on it, or once timeouts.drain has passed.
asio::awaitable<void> ClusterAgent::finish_drains() {
  const auto drain = host_.drain_timeout().count();
  const auto now = now_ms();
  const auto mine = host_.removing_in_flight();
  for (const auto& pool : host_.pool_names()) {
    for (const auto& backend : view_.backends(pool)) {
      if (backend.value.state != BackendState::removing) continue;
      bool idle = true;
      for (const auto& [name, member] : members_) {
        if (name == instance_) continue;
        const auto busy = member.draining.find(backend.key);
        if (member.applied_revision < backend.mod_revision || (busy != member.draining.end() && busy->second > 0))
          idle = false;
      }
      if (const auto busy = mine.find(backend.key); busy != mine.end() && busy->second > 0) idle = false;
      const bool expired = now >= backend.value.removed_at_ms + drain;
      if (!idle && !expired) continue;
      if (drain_deletes_.count(backend.key) && drain_deletes_[backend.key] == backend.mod_revision) continue;
      drain_deletes_[backend.key] = backend.mod_revision;
      const std::vector<Compare> unchanged{
          {.target = Compare::Target::mod, .key = backend.key, .revision = backend.mod_revision}};
      const std::vector<Operation> remove{{.kind = Operation::Kind::remove, .key = backend.key, .value = {}, .lease = 0}};
      std::string body = txn_request(unchanged, remove);
      auto reply = co_await client_.call(kTxnPath, std::move(body));
      if (!running_) co_return;
      if (reply.ok() && txn_succeeded(*reply.result))
        log_drained(pool, backend.value.address, idle);
      else
        drain_deletes_.erase(backend.key);
    }
  }
}

asio::awaitable<void> ClusterAgent::member_loop() {
  asio::steady_timer& tick = *wake_;
  auto next_second = Clock::now();
  while (running_) {
    sample_load();
    expire_waiters();
    const auto now = Clock::now();
    if (now >= next_second) {
      next_second = now + std::chrono::seconds(1);
      const bool registered = co_await ensure_lease();
      if (registered) {
        if (!running_) co_return;
        co_await report();
        if (!running_) co_return;
        co_await elect();
        if (!running_) co_return;
        const auto members_interval = is_leader_ ? kLeaderMembersInterval : kMembersInterval;
        if (Clock::now() - members_read_ >= members_interval) co_await refresh_members();
        if (!running_) co_return;
        if (is_leader_) co_await finish_drains();
      } else if (!running_) {
        co_return;
      } else if (is_leader_ && lease_ == 0) {
        set_leader({});
      }
      if (!running_) co_return;
      if (!stale_ && Clock::now() - last_keep_up_check_ >= kKeepUpCheckInterval) {
        last_keep_up_check_ = Clock::now();
        co_await check_watch_keeps_up();
      }
    } else {
      // Between seconds, only an urgent report (scale from zero) goes out.
      if (lease_ != 0) co_await report();
    }
    if (!running_) co_return;
    tick.expires_after(kSampleInterval);
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace keel::cluster
