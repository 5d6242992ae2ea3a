// Keeping this instance's pools in step with etcd: a full range (at start,
// after compaction, a restore or a change of cluster), then a watch from the
// next revision; reconnects with backoff and jitter; a periodic check that the
// watch has not gone silent while etcd moved on.
#include "proxy/cluster/cluster_agent.hpp"

#include "proxy/log/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <random>

namespace keel::cluster {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{3'000};
constexpr std::size_t kMaxWatchLine = 64 * 1024 * 1024;

std::chrono::milliseconds jittered(std::chrono::milliseconds backoff) {
  static thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> spread(backoff.count() / 2, backoff.count());
  return std::chrono::milliseconds(spread(random));
}

}  // namespace

void ClusterAgent::set_connected(bool connected, const std::string& why) {
  if (connected == connected_) return;
  connected_ = connected;
  if (connected)
    log::info("cluster: connected to etcd at " + client_.current_endpoint());
  else
    log::warn("cluster: lost etcd (" + why + "); serving the last applied backend lists");
}

void ClusterAgent::apply_changed(const std::set<std::string>& pools) {
  bool any = false;
  for (const auto& pool : host_.pool_names()) {
    if (!pools.count(pool) || !view_.is_seeded(pool)) continue;
    std::vector<std::string> problems;
    host_.apply_pool(pool, view_.backends(pool, &problems));
    for (const auto& problem : problems) log::warn("cluster: ignoring " + problem);
    any = true;
  }
  if (any || stale_) host_.cluster_applied();
  release_waiters();
}

// The whole prefix, then the pools etcd has never seen; after seeding, read
// again, so that the watch starts after the seeded keys.
asio::awaitable<bool> ClusterAgent::full_sync() {
  // co_await as a statement of its own, not inside a condition: GCC 12.
  const bool ranged = co_await range_and_apply();
  if (!ranged) co_return false;
  const bool seeded = co_await seed_pools();
  if (!seeded) co_return running_;
  const bool ranged_again = co_await range_and_apply();
  co_return ranged_again;
}

asio::awaitable<bool> ClusterAgent::range_and_apply() {
  const std::string from = layout_.pools();
  std::string body = range_request(from, prefix_range_end(from));
  auto reply = co_await client_.call(kRangePath, std::move(body));
  if (!running_) co_return false;
  co_return apply_range(reply);
}

// Outside the coroutine on purpose: GCC 12 miscompiles some temporaries in
// coroutine frames (see admin_server.cpp), and this is plain work.
bool ClusterAgent::apply_range(const EtcdReply& reply) {
  if (!reply.ok()) {
    set_connected(false, reply.describe());
    return false;
  }
  const auto header = read_header(*reply.result);
  const auto kvs = read_key_values(*reply.result);
  if (!header || !kvs) {
    log::warn("cluster: etcd's range reply is malformed; retrying");
    return false;
  }
  set_connected(true, std::string());
  const bool restored = header->revision < view_.revision() || (cluster_id_ != 0 && header->cluster_id != cluster_id_);
  if (restored)
    log::warn("cluster: etcd went back to revision " + std::to_string(header->revision) + " from " +
              std::to_string(view_.revision()) + " (restored from a backup, or another cluster): resynchronising");
  cluster_id_ = header->cluster_id;
  etcd_revision_ = header->revision;
  const auto changed = view_.reset(*kvs, header->revision);
  const bool was_stale = stale_;
  apply_changed(changed);
  stale_ = false;
  resync_ = false;
  std::string message = "cluster: synchronised at revision " + std::to_string(header->revision) + " (" +
                        std::to_string(kvs->size()) + " key(s)";
  if (was_stale) message += ", was serving the local cache";
  log::info(message + ")");
  return running_;
}

// Whether it wrote anything.
asio::awaitable<bool> ClusterAgent::seed_pools() {
  bool seeded = false;
  for (const auto& pool : host_.pool_names()) {
    if (!running_ || view_.is_seeded(pool)) continue;
    std::vector<Operation> puts;
    puts.push_back({.kind = Operation::Kind::put, .key = layout_.seeded(pool),
                    .value = "{\"instance\":" + json::serialize(json::value(instance_)) + "}", .lease = 0});
    std::vector<Compare> compares{{.target = Compare::Target::create, .key = layout_.seeded(pool), .revision = 0}};
    for (const auto& [endpoint, value] : host_.serving(pool)) {
      const std::string key = layout_.backend(pool, endpoint);
      if (view_.find(key)) continue;
      compares.push_back({.target = Compare::Target::create, .key = key, .revision = 0});
      puts.push_back({.kind = Operation::Kind::put, .key = key, .value = encode(value), .lease = 0});
    }
    std::string body = txn_request(compares, puts);
    auto reply = co_await client_.call(kTxnPath, std::move(body));
    if (!running_) co_return seeded;
    if (!reply.ok()) {
      log::warn("cluster: cannot seed pool " + pool + " in etcd: " + reply.describe() + "; will retry");
      resync_ = true;
      co_return seeded;
    }
    seeded = true;  // by this instance, or by another one first: either way etcd changed
    if (txn_succeeded(*reply.result))
      log::info("cluster: seeded pool " + pool + " in etcd with " + std::to_string(puts.size() - 1) +
                " backend(s) from this instance");
  }
  co_return seeded;
}

asio::awaitable<std::string> ClusterAgent::watch(std::int64_t from) {
  std::string token;
  std::string problem;
  auto connection = co_await client_.open_stream_connection(token, problem);
  if (!running_) co_return "stopping";
  if (!connection) co_return problem;
  const std::string prefix = layout_.pools();
  std::string request = watch_request(prefix, prefix_range_end(prefix), from);
  const unsigned status = co_await connection->open_stream(kWatchPath, std::move(request), token,
                                                           kEtcdRequestTimeout, problem);
  if (!running_) co_return "stopping";
  if (status == 0) co_return problem;
  if (status != 200) co_return refused_watch(status);
  watch_connection_ = std::move(connection);
  EtcdConnection& stream = *watch_connection_;
  std::string pending;
  std::string reason;
  while (running_ && reason.empty()) {
    const bool read = co_await stream.read_stream(pending, problem);
    if (!read) {
      reason = problem;
      break;
    }
    if (!running_) break;
    std::size_t start = 0;
    for (std::size_t end; reason.empty() && (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      reason = on_watch_line(std::string_view(pending).substr(start, end - start));
    }
    pending.erase(0, start);
    if (pending.size() > kMaxWatchLine) reason = "watch message too large";
  }
  watching_ = false;
  if (watch_connection_) watch_connection_->close();
  watch_connection_.reset();
  co_return reason;
}

std::string ClusterAgent::refused_watch(unsigned status) { return "watch refused with HTTP " + std::to_string(status); }

std::string ClusterAgent::on_watch_line(std::string_view line) {
  boost::system::error_code ec;
  const auto value = json::parse(line, ec);
  if (ec) return "malformed watch message: " + ec.message();
  return on_watch_message(read_watch_message(value));
}

// One object of the watch stream; returns why the watch must end, or "".
std::string ClusterAgent::on_watch_message(const WatchMessage& message) {
  switch (message.kind) {
    case WatchMessage::Kind::created:
      set_connected(true, std::string());
      watching_ = true;
      etcd_revision_ = std::max(etcd_revision_, message.header.revision);
      if (message.header.cluster_id != cluster_id_ || message.header.revision < view_.revision()) {
        resync_ = true;
        return "etcd is not the one this instance synchronised with";
      }
      return {};
    case WatchMessage::Kind::events:
    case WatchMessage::Kind::progress:
      if (message.header.revision < view_.revision() && message.kind == WatchMessage::Kind::progress) {
        resync_ = true;
        return "etcd's revision went back";
      }
      etcd_revision_ = std::max(etcd_revision_, message.header.revision);
      apply_changed(view_.apply(message.events));
      if (message.kind == WatchMessage::Kind::progress) view_.advance(message.header.revision);
      release_waiters();
      return {};
    case WatchMessage::Kind::canceled:
      if (message.compact_revision > 0) {
        log::warn("cluster: etcd compacted past revision " + std::to_string(view_.revision()) + " (oldest kept " +
                  std::to_string(message.compact_revision) + "): resynchronising");
        resync_ = true;
      }
      return "watch canceled: " + message.reason;
    case WatchMessage::Kind::error:
      return "watch error: " + message.reason;
    case WatchMessage::Kind::malformed:
      break;
  }
  return "malformed watch message: " + message.reason;
}

asio::awaitable<void> ClusterAgent::sync_loop() {
  auto backoff = kFirstBackoff;
  asio::steady_timer pause(io_);
  while (running_) {
    bool synced = !resync_;
    if (resync_) synced = co_await full_sync();
    if (!running_) co_return;
    if (synced) {
      const std::int64_t from = view_.revision() + 1;
      const auto reason = co_await watch(from);
      if (!running_) co_return;
      log::warn("cluster: watch on " + client_.current_endpoint() + " ended (" + reason + "); reconnecting");
      if (reason.find("cannot connect") != std::string::npos || reason.find("no reply") != std::string::npos ||
          reason.find("ended") != std::string::npos || reason.find("refused") != std::string::npos)
        set_connected(false, reason);
      client_.rotate();
    }
    if (synced && connected_) {
      backoff = kFirstBackoff;
      continue;
    }
    pause.expires_after(jittered(backoff));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

// A watch can stay open and silent while etcd has moved on (a member cut off
// from the others keeps the stream). A range of the prefix shows it: keys
// newer than what was applied, or missing, twice in a row -> restart.
asio::awaitable<void> ClusterAgent::check_watch_keeps_up() {
  const std::string from = layout_.pools();
  std::string body = range_request(from, prefix_range_end(from));
  auto reply = co_await client_.call(kRangePath, std::move(body));
  if (!running_) co_return;
  if (!reply.ok()) {
    set_connected(false, reply.describe());
    suspicious_.reset();
    co_return;
  }
  set_connected(true, {});
  const auto header = read_header(*reply.result);
  const auto kvs = read_key_values(*reply.result);
  if (!header || !kvs) co_return;
  etcd_revision_ = std::max(etcd_revision_, header->revision);
  std::map<std::string, std::int64_t> seen;
  for (const auto& kv : *kvs) seen.emplace(kv.key, kv.mod_revision);
  if (header->revision < view_.revision() || header->cluster_id != cluster_id_) {
    log::warn("cluster: etcd is back at revision " + std::to_string(header->revision) + " (applied " +
              std::to_string(view_.revision()) + "): resynchronising");
    resync_ = true;
    if (watch_connection_) watch_connection_->close();
    co_return;
  }
  if (seen == view_.fingerprint()) {
    suspicious_.reset();
    co_return;
  }
  if (suspicious_ && *suspicious_ == seen) {
    log::warn("cluster: the watch missed changes etcd has (applied revision " + std::to_string(view_.revision()) +
              ", etcd at " + std::to_string(header->revision) + "); restarting it");
    resync_ = true;
    suspicious_.reset();
    if (watch_connection_) watch_connection_->close();
    co_return;
  }
  suspicious_ = std::move(seen);
}

}  // namespace keel::cluster
