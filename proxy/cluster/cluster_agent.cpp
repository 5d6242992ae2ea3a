#include "proxy/cluster/cluster_agent.hpp"

#include "proxy/log/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <ctime>

namespace keel::cluster {
namespace {

namespace asio = boost::asio;

std::string rfc3339_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

ClusterAgent::ClusterAgent(asio::io_context& io, config::Cluster settings, std::string instance, ClusterHost& host)
    : io_(io),
      settings_(std::move(settings)),
      instance_(std::move(instance)),
      host_(host),
      layout_(settings_.prefix),
      client_(io, settings_),
      view_(layout_),
      started_(rfc3339_now()) {}

ClusterAgent::~ClusterAgent() {
  stop();
  *alive_ = false;
}

void ClusterAgent::start() {
  if (running_) return;
  running_ = true;
  wake_ = std::make_shared<asio::steady_timer>(io_);
  log::info("cluster: instance " + instance_ + ", etcd " + settings_.endpoints.front().url +
            (settings_.endpoints.size() > 1 ? " (+" + std::to_string(settings_.endpoints.size() - 1) + " more)" : "") +
            ", prefix " + settings_.prefix + "; serving the local state until etcd answers");
  auto alive = alive_;
  asio::co_spawn(io_, [this, alive]() -> asio::awaitable<void> { co_await sync_loop(); }, asio::detached);
  asio::co_spawn(io_, [this, alive]() -> asio::awaitable<void> { co_await member_loop(); }, asio::detached);
}

void ClusterAgent::stop() {
  if (!running_) return;
  running_ = false;
  if (wake_) wake_->cancel();
  if (watch_connection_) watch_connection_->close();
  client_.close();
  fail_waiters("keel is stopping");
  // The leader key and the instance key go with the lease: revoke it so that
  // another instance leads at once instead of after lease_ttl. On a loop of its
  // own, bounded: the control loop may stop right after this returns.
  if (lease_ != 0) {
    const auto lease = lease_;
    lease_ = 0;
    asio::io_context revoking;
    EtcdClient client(revoking, settings_);
    const std::string body = lease_keepalive_request(lease);
    asio::co_spawn(revoking, client.call(kLeaseRevokePath, body), asio::detached);
    revoking.run_for(std::chrono::seconds(1));
  }
}

void ClusterAgent::seed_new_pools() {
  if (!running_ || !connected_ || stale_) return;
  auto alive = alive_;
  asio::co_spawn(io_, [this, alive]() -> asio::awaitable<void> {
    if (*alive && running_) co_await seed_pools();  // the watch brings what it wrote
  }, asio::detached);
}

ClusterStatus ClusterAgent::status() const {
  ClusterStatus out{.instance = instance_,
                    .leader = leader_,
                    .connected = connected_,
                    .stale = stale_,
                    .applied_revision = view_.revision(),
                    .etcd_revision = etcd_revision_,
                    .endpoint = client_.current_endpoint(),
                    .instances = {}};
  for (const auto& [name, member] : members_) out.instances.push_back(member);
  if (!members_.count(instance_))
    out.instances.push_back(MemberValue{.instance = instance_, .started = started_,
                                        .applied_revision = view_.revision(), .load = {}, .draining = {}});
  return out;
}

}  // namespace keel::cluster
