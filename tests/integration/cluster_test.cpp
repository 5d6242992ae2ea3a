// Cluster mode against a real 3-member etcd: changes reach every instance
// whichever way they are made, conflicts get one winner, and etcd's failures
// (a member killed, quorum lost, compaction, a restore) lose no request and
// no change.
#include "tests/integration/cluster_support.hpp"
#include "tests/support/load_loop.hpp"
#include "tests/support/test_backend.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string backend_json(const std::string& address) { return "{\"address\":\"" + address + "\"}"; }

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values.at(index);
}

class Cluster : public ::testing::Test {
 protected:
  EtcdCluster etcd_{3};
  TestBackend app_{"app"};
};

TEST_F(Cluster, AChangeThroughOneInstanceReachesTheOthers) {
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({app_.address()}));
  ClusterKeel c(etcd_, "lb-c", one_pool_yaml({app_.address()}));
  ASSERT_TRUE(a.wait_current() && b.wait_current() && c.wait_current());
  ASSERT_TRUE(wait_until([&] { return b.has_backend("app", app_.address()) && c.has_backend("app", app_.address()); }, 10s));

  // 200 changes through A: first an add, then weight changes, each answered once A applied it.
  const auto weight_on = [](const ClusterKeel& keel, const std::string& address) -> std::int64_t {
    const auto pool = keel.json("/api/v1/pools/app");
    if (!pool.is_object()) return -1;
    for (const auto& backend : pool.at("backends").as_array())
      if (backend.at("address").as_string() == address) return backend.at("weight").as_int64();
    return 0;
  };
  std::vector<double> delays_ms;
  const std::string extra = "127.0.0.1:1";
  for (int i = 0; i < 200; ++i) {
    const std::int64_t weight = i % 50 + 1;
    const auto started = Clock::now();
    const auto response =
        i == 0 ? a.call("POST", "/api/v1/pools/app/backends", "{\"address\":\"" + extra + "\",\"weight\":1}")
               : a.call("PATCH", "/api/v1/pools/app/backends/" + extra, "{\"weight\":" + std::to_string(weight) + "}");
    ASSERT_EQ(response.result_int(), i == 0 ? 201u : 200u) << response.body() << a.log();
    ASSERT_EQ(weight_on(a, extra), weight) << "A answered before applying";
    for (const ClusterKeel* other : {&b, &c}) {
      ASSERT_TRUE(wait_until([&] { return weight_on(*other, extra) == weight; }, 5s))
          << other->instance() << " did not apply change " << i << "\n" << other->log();
      delays_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    }
  }
  const double p50 = percentile(delays_ms, 0.50);
  const double p99 = percentile(delays_ms, 0.99);
  std::printf("propagation from A's request to B and C applying it, %zu samples: p50 %.1f ms, p99 %.1f ms\n",
              delays_ms.size(), p50, p99);
  RecordProperty("propagation_p50_ms", std::to_string(p50));
  RecordProperty("propagation_p99_ms", std::to_string(p99));
  EXPECT_LT(p99, 1000.0);
}

TEST_F(Cluster, EtcdctlPutReachesEveryInstanceAndDelDrainsEverywhere) {
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({app_.address()}));
  TestBackend other{"other"};
  etcd_.ctl({"put", "/keel/pools/app/backends/" + other.address(),
             "{\"address\":\"" + other.address() + "\",\"weight\":3,\"state\":\"active\"}"});
  for (const ClusterKeel* keel : {&a, &b})
    ASSERT_TRUE(wait_until([&] { return keel->has_backend("app", other.address(), "active"); }, 5s)) << keel->log();
  // Traffic reaches it through either instance (weight 3 of 4).
  TestClient client{b.address()};
  for (int i = 0; i < 8; ++i) ASSERT_EQ(client.get("/").result_int(), 200u);
  EXPECT_GT(other.request_count(), 0u);

  etcd_.ctl({"del", "/keel/pools/app/backends/" + other.address()});
  for (const ClusterKeel* keel : {&a, &b})
    ASSERT_TRUE(wait_until([&] { return !keel->has_backend("app", other.address()); }, 5s)) << keel->log();
  const auto before = other.request_count();
  for (int i = 0; i < 8; ++i) ASSERT_EQ(client.get("/").result_int(), 200u);
  EXPECT_EQ(other.request_count(), before);

  // A value that is not a backend is ignored with a warning, not applied.
  etcd_.ctl({"put", "/keel/pools/app/backends/127.0.0.1:9", "not json"});
  ASSERT_TRUE(wait_until([&] { return a.log().find("127.0.0.1:9: not a JSON object") != std::string::npos; }, 5s))
      << a.log();
  EXPECT_FALSE(a.has_backend("app", "127.0.0.1:9"));
}

TEST_F(Cluster, TwoInstancesRacingOnOneBackendGetOneWinner) {
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({app_.address()}));
  ASSERT_TRUE(a.wait_current() && b.wait_current());
  for (int round = 0; round < 10; ++round) {
    const std::string address = "127.0.0.1:" + std::to_string(2000 + round);
    auto first = std::async(std::launch::async, [&] { return a.call("POST", "/api/v1/pools/app/backends", backend_json(address)); });
    auto second = std::async(std::launch::async, [&] { return b.call("POST", "/api/v1/pools/app/backends", backend_json(address)); });
    std::vector<unsigned> statuses{first.get().result_int(), second.get().result_int()};
    std::sort(statuses.begin(), statuses.end());
    EXPECT_EQ(statuses, (std::vector<unsigned>{201, 409})) << "round " << round;
  }
}

TEST_F(Cluster, QuorumLostKeepsTrafficAndRefusesChangesUntilItIsBack) {
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({app_.address()}));
  ASSERT_TRUE(a.wait_current() && b.wait_current());
  LoadLoop load_a(a.address(), 2);
  LoadLoop load_b(b.address(), 2);
  etcd_.stop(1);
  etcd_.stop(2);
  // Admin writes: 503 with Retry-After, once the instance sees etcd cannot commit.
  TestResponse refused;
  ASSERT_TRUE(wait_until([&] {
    refused = a.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:3001"));
    return refused.result_int() == 503;
  }, 15s)) << refused.body() << a.log();
  EXPECT_FALSE(refused[http::field::retry_after].empty());
  // That first write reached etcd and may still commit later; from now on the
  // instance knows etcd is down and refuses at once: such a change is never made.
  const auto started = std::chrono::steady_clock::now();
  const auto refused_at_once = b.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:3003"));
  ASSERT_TRUE(wait_until([&] { return b.call("GET", "/metrics").body().find("keel_cluster_etcd_connected 0") != std::string::npos; }, 15s));
  const auto refused_later = b.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:3004"));
  EXPECT_EQ(refused_later.result_int(), 503u);
  EXPECT_NE(refused_later.body().find("was not made"), std::string::npos) << refused_later.body();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  (void)refused_at_once;
  // Reads still answer, from the last applied state.
  EXPECT_TRUE(a.has_backend("app", app_.address()));
  EXPECT_EQ(a.call("GET", "/api/v1/cluster").result_int(), 200u);
  EXPECT_TRUE(wait_until(
      [&] { return a.call("GET", "/metrics").body().find("keel_cluster_etcd_connected 0") != std::string::npos; },
      15s));
  EXPECT_EQ(a.call("GET", "/healthz").result_int(), 200u);

  etcd_.start(1);
  etcd_.start(2);
  ASSERT_TRUE(etcd_.wait_healthy(20s));
  etcd_.ctl({"put", "/keel/pools/app/backends/127.0.0.1:3002", "{\"address\":\"127.0.0.1:3002\",\"weight\":1,\"state\":\"draining\"}"});
  for (const ClusterKeel* keel : {&a, &b})
    ASSERT_TRUE(wait_until([&] { return keel->has_backend("app", "127.0.0.1:3002", "draining"); }, 15s)) << keel->log();
  EXPECT_FALSE(a.has_backend("app", "127.0.0.1:3004")) << "a change refused as not made must never appear";
  load_a.stop();
  load_b.stop();
  EXPECT_EQ(load_a.failures() + load_b.failures(), 0);
  EXPECT_GT(load_a.requests() + load_b.requests(), 100);
}

TEST_F(Cluster, AMemberKilledUnderLoadAndChurnLosesNothing) {
  // Traffic goes to "app"; the churn adds backends to "spare".
  const std::string pools = one_pool_yaml({app_.address()}) + "  - name: spare\n    backends: []\n" +
                            "routes:\n  - { path_prefix: /, pool: app }\n";
  ClusterKeel a(etcd_, "lb-a", pools);
  ClusterKeel b(etcd_, "lb-b", pools);
  ASSERT_TRUE(a.wait_current() && b.wait_current());
  LoadLoop load(a.address(), 4);
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 60; ++i) {
    if (i == 15) etcd_.kill(0);
    const std::string address = "127.0.0.1:" + std::to_string(4000 + i);
    const auto response = (i % 2 ? a : b).call("POST", "/api/v1/pools/spare/backends", backend_json(address));
    if (response.result_int() == 201) acknowledged.push_back(address);
    else ASSERT_EQ(response.result_int(), 503u) << response.body();
  }
  load.stop();
  EXPECT_EQ(load.failures(), 0);
  EXPECT_GE(acknowledged.size(), 50u);
  for (const ClusterKeel* keel : {&a, &b})
    ASSERT_TRUE(wait_until([&] {
      const auto list = keel->backends("spare");
      return std::all_of(acknowledged.begin(), acknowledged.end(),
                         [&](const std::string& x) { return std::find(list.begin(), list.end(), x) != list.end(); });
    }, 10s)) << keel->log();
}

TEST_F(Cluster, AKilledLeaderIsReplacedWithinTheLeaseTtl) {
  std::vector<std::unique_ptr<ClusterKeel>> keels;
  for (const char* name : {"lb-a", "lb-b", "lb-c"})
    keels.push_back(std::make_unique<ClusterKeel>(etcd_, name, one_pool_yaml({app_.address()})));
  std::string leader;
  ASSERT_TRUE(wait_until([&] { leader = keels[0]->leader(); return !leader.empty(); }, 10s));
  for (auto& keel : keels) ASSERT_TRUE(wait_until([&] { return keel->leader() == leader; }, 5s));
  auto dead = std::find_if(keels.begin(), keels.end(), [&](const auto& k) { return k->instance() == leader; });
  (*dead)->process().signal(SIGKILL);
  const auto killed_at = Clock::now();
  (*dead)->process().wait_exit(5s);
  keels.erase(dead);
  std::string next;
  ASSERT_TRUE(wait_until([&] { next = keels[0]->leader(); return !next.empty() && next != leader; }, 10s));
  const auto took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  std::printf("leader %s killed; %s leads after %.2f s (lease_ttl 2 s)\n", leader.c_str(), next.c_str(), took);
  EXPECT_LT(took, 2.0 + 1.5) << "lease_ttl plus one election check (1 s) and etcd's lease expiry granularity";
  EXPECT_TRUE(wait_until([&] { return keels[1]->leader() == next; }, 2s));
  EXPECT_EQ(etcd_.ctl({"get", "/keel/members/" + leader}), "");
}

TEST_F(Cluster, AStartWithEtcdDownServesTheCacheThenResynchronises) {
  const std::string state_file = ::testing::TempDir() + "keel-cluster-cache-" + std::to_string(::getpid()) + ".json";
  std::remove(state_file.c_str());
  TestBackend added{"added"};
  {
    ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}), "state_file: " + state_file + "\n");
    ASSERT_TRUE(a.wait_current());
    ASSERT_EQ(a.call("POST", "/api/v1/pools/app/backends", backend_json(added.address())).result_int(), 201u);
  }
  for (std::size_t i = 0; i < etcd_.size(); ++i) etcd_.stop(i);
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}), "state_file: " + state_file + "\n");
  const auto status = a.json("/api/v1/cluster");
  EXPECT_TRUE(status.at("stale").as_bool());
  EXPECT_FALSE(status.at("etcd").at("connected").as_bool());
  EXPECT_TRUE(a.has_backend("app", added.address())) << "the cache serves what etcd last said";
  TestClient client{a.address()};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client.get("/").result_int(), 200u);
  EXPECT_GT(added.request_count(), 0u);
  for (std::size_t i = 0; i < etcd_.size(); ++i) etcd_.start(i);
  ASSERT_TRUE(wait_until([&] { return !a.json("/api/v1/cluster").at("stale").as_bool(); }, 20s)) << a.log();
  EXPECT_TRUE(a.has_backend("app", added.address()));
  std::remove(state_file.c_str());
}

}  // namespace
}  // namespace keel::test

namespace keel::test {
namespace {

class ClusterRecovery : public ::testing::Test {
 protected:
  EtcdCluster etcd_{3};
  TestBackend app_{"app"};
};

// B talks to member 2 only. While member 2 is down, A's changes go on and etcd
// compacts past B's revision: when B's member returns, its watch is refused as
// compacted and B takes a full range instead.
TEST_F(ClusterRecovery, AnInstanceCutOffDuringACompactionResynchronises) {
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({app_.address()}), {}, "2s", "[" + etcd_.endpoint(2) + "]");
  ASSERT_TRUE(a.wait_current() && b.wait_current());
  ASSERT_EQ(a.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:5001")).result_int(), 201u);
  ASSERT_TRUE(wait_until([&] { return b.has_backend("app", "127.0.0.1:5001"); }, 5s));

  etcd_.stop(2);
  ASSERT_EQ(a.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:5002")).result_int(), 201u);
  ASSERT_EQ(a.call("PATCH", "/api/v1/pools/app/backends/127.0.0.1:5001", "{\"state\":\"draining\"}").result_int(), 200u);
  const auto status = etcd_.ctl({"endpoint", "status", "--write-out", "json"});
  const auto revision_at = status.find("\"revision\":");
  ASSERT_NE(revision_at, std::string::npos) << status;
  const std::string revision = status.substr(revision_at + 11, status.find_first_of(",}", revision_at) - revision_at - 11);
  etcd_.ctl({"compact", revision});
  EXPECT_FALSE(b.has_backend("app", "127.0.0.1:5002")) << "B cannot know yet";
  EXPECT_TRUE(b.has_backend("app", "127.0.0.1:5001", "active")) << "B keeps serving what it applied";

  etcd_.start(2);
  ASSERT_TRUE(wait_until([&] {
    return b.has_backend("app", "127.0.0.1:5002") && b.has_backend("app", "127.0.0.1:5001", "draining");
  }, 20s)) << b.log();
  EXPECT_NE(b.log().find("resynchronising"), std::string::npos) << b.log();
}

// etcd restored from a snapshot goes back in time (and is another cluster):
// every instance takes the restored state as a whole.
TEST_F(ClusterRecovery, EtcdRestoredFromASnapshotIsTakenAsAWhole) {
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({app_.address()}));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({app_.address()}));
  ASSERT_TRUE(a.wait_current() && b.wait_current());
  ASSERT_EQ(a.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:6001")).result_int(), 201u);
  ASSERT_TRUE(wait_until([&] { return b.has_backend("app", "127.0.0.1:6001"); }, 5s));
  const std::string snapshot = etcd_.directory() + "/snapshot.db";
  etcd_.ctl({"snapshot", "save", snapshot});
  ASSERT_EQ(a.call("POST", "/api/v1/pools/app/backends", backend_json("127.0.0.1:6002")).result_int(), 201u);
  for (int i = 0; i < 20; ++i)  // move the revision well past the snapshot's
    ASSERT_EQ(a.call("PATCH", "/api/v1/pools/app/backends/127.0.0.1:6002",
                     "{\"weight\":" + std::to_string(i + 1) + "}").result_int(), 200u);
  ASSERT_TRUE(wait_until([&] { return b.has_backend("app", "127.0.0.1:6002"); }, 5s));

  etcd_.restore(snapshot);
  for (const ClusterKeel* keel : {&a, &b})
    ASSERT_TRUE(wait_until([&] {
      return keel->has_backend("app", "127.0.0.1:6001") && !keel->has_backend("app", "127.0.0.1:6002");
    }, 20s)) << keel->log();
}

// A removed backend stays in etcd (state removing) while any instance still
// has a request on it, and leaves once that request is answered.
TEST_F(ClusterRecovery, ARemovedBackendLeavesEtcdOnceNoInstanceHasRequestsOnIt) {
  TestBackend slow{"slow"};
  slow.set_reply(Reply::text("slow").held());
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({slow.address()}), "timeouts:\n  drain: 30s\n");
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({slow.address()}), "timeouts:\n  drain: 30s\n");
  ASSERT_TRUE(a.wait_current() && b.wait_current());
  TestClient client{b.address()};
  ASSERT_FALSE(client.write_request(request_with_host(http::verb::get, "/held")));
  ASSERT_TRUE(slow.next_request_head(5s));

  const auto removed = a.call("DELETE", "/api/v1/pools/app/backends/" + slow.address());
  ASSERT_EQ(removed.result_int(), 202u) << removed.body() << boost::json::serialize(a.json("/api/v1/cluster")) << etcd_.ctl({"get", "--prefix", "/keel/pools"}) << a.log();
  const std::string key = "/keel/pools/app/backends/" + slow.address();
  ASSERT_TRUE(wait_until([&] { return etcd_.ctl({"get", key}).find("removing") != std::string::npos; }, 5s));
  // The leader has read both instances' reports of the removal (and with them B's
  // request in flight) and judged the drain: the key must still be there.
  const std::int64_t removal = a.json("/api/v1/cluster").at("applied_revision").as_int64();
  const ClusterKeel& leader = a.leader() == a.instance() ? a : b;
  ASSERT_TRUE(wait_until([&] {
    const auto status = leader.json("/api/v1/cluster");
    if (!status.is_object()) return false;
    const auto& instances = status.at("instances").as_array();
    return instances.size() == 2 && std::all_of(instances.begin(), instances.end(), [&](const auto& instance) {
             return instance.at("applied_revision").as_int64() >= removal;
           });
  }, 10s)) << leader.log();
  ASSERT_NE(etcd_.ctl({"get", key}), "") << "left etcd with a request in flight on lb-b";
  slow.release();
  const auto response = client.read_response(5s);
  EXPECT_EQ(response.result_int(), 200u);
  ASSERT_TRUE(wait_until([&] { return etcd_.ctl({"get", key}).empty(); }, 10s)) << a.log();
  for (const ClusterKeel* keel : {&a, &b})
    EXPECT_TRUE(wait_until([&] { return !keel->has_backend("app", slow.address()); }, 5s));
}

// Two instances each take half of the load: the leader decides on the sum,
// alone calls the webhook, and both answer with the same decision.
TEST_F(ClusterRecovery, AutoscalingDecidesOnTheWholeClustersLoad) {
  TestBackend slow{"slow"};
  slow.set_reply(Reply::text("slow").with_delay(300ms));
  TestBackend hook{"hook"};
  const std::string settings =
      "    autoscale: { target_concurrency: 2, min_backends: 1, max_backends: 20, stable_window: 6s,"
      " panic_window: 2s, webhook: \"http://" + hook.address() + "/scale\" }\n";
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({slow.address()}, "app", settings));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({slow.address()}, "app", settings));
  std::string leader;
  ASSERT_TRUE(wait_until([&] { leader = a.leader(); return !leader.empty() && b.leader() == leader; }, 10s))
      << boost::json::serialize(a.json("/api/v1/cluster")) << boost::json::serialize(b.json("/api/v1/cluster"))
      << a.log() << b.log();

  // 4 requests always in flight through each instance: 8 in the cluster, so
  // ceil(8 / 2) = 4 backends, what one instance taking all 8 would say.
  LoadLoop load_a(a.address(), 4);
  LoadLoop load_b(b.address(), 4);
  const auto desired = [](const ClusterKeel& keel) -> std::int64_t {
    const auto value = keel.json("/api/v1/pools/app/autoscale");
    return value.is_object() && value.as_object().contains("desired") ? value.at("desired").as_int64() : -1;
  };
  ASSERT_TRUE(wait_until([&] { return desired(a) >= 3 && desired(b) >= 3; }, 15s))
      << "a: " << desired(a) << " b: " << desired(b) << "\n" << a.log() << b.log();
  // Both answer with the leader's decision once it has been published.
  const auto decided_by_leader = [&](const ClusterKeel& keel) {
    const auto value = keel.json("/api/v1/pools/app/autoscale");
    return value.is_object() && value.as_object().contains("decided_by") && value.at("decided_by").as_string() == leader;
  };
  ASSERT_TRUE(wait_until([&] { return decided_by_leader(a) && decided_by_leader(b); }, 10s));
  for (const ClusterKeel* keel : {&a, &b}) {
    const auto value = keel->json("/api/v1/pools/app/autoscale");
    ASSERT_TRUE(value.is_object() && value.as_object().contains("decided_by")) << boost::json::serialize(value);
    EXPECT_GE(value.at("desired").as_int64(), 3) << boost::json::serialize(value);
    EXPECT_LE(value.at("desired").as_int64(), 5) << boost::json::serialize(value);
    EXPECT_EQ(value.at("decided_by").as_string(), leader);
  }
  load_a.stop();
  load_b.stop();
  EXPECT_EQ(load_a.failures() + load_b.failures(), 0);
  ASSERT_TRUE(hook.next_request(5s)) << "the leader calls the webhook";
  const ClusterKeel& follower = leader == a.instance() ? b : a;
  const ClusterKeel& decider = leader == a.instance() ? a : b;
  EXPECT_EQ(follower.log().find("autoscale desired"), std::string::npos) << follower.log();
  EXPECT_NE(decider.log().find("autoscale desired"), std::string::npos);
}

// Scale from zero across the cluster: a request held by an instance that is
// not the leader is demand for the leader, which asks for a backend; once one
// is added (through the follower here), the held request is answered.
TEST_F(ClusterRecovery, ARequestWaitingOnAFollowerScalesAnEmptyPoolFromZero) {
  TestBackend hook{"hook"};
  const std::string settings =
      "    autoscale: { target_concurrency: 1, min_backends: 0, max_backends: 2, stable_window: 4s,"
      " panic_window: 1s, webhook: \"http://" + hook.address() + "/scale\" }\n";
  ClusterKeel a(etcd_, "lb-a", one_pool_yaml({}, "app", settings));
  ClusterKeel b(etcd_, "lb-b", one_pool_yaml({}, "app", settings));
  std::string leader;
  ASSERT_TRUE(wait_until([&] { leader = a.leader(); return !leader.empty() && b.leader() == leader; }, 10s));
  const ClusterKeel& follower = leader == a.instance() ? b : a;
  auto held = std::async(std::launch::async, [&] { return TestClient{follower.address()}.get("/first", {}, 15s); });
  const auto call = hook.next_request(10s);
  ASSERT_TRUE(call) << "the leader did not hear of the waiting request";
  EXPECT_NE(call->body.find("\"desired\":1"), std::string::npos) << call->body;
  ASSERT_EQ(follower.call("POST", "/api/v1/pools/app/backends", backend_json(app_.address())).result_int(), 201u);
  const auto response = held.get();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(follower.log().find("autoscale desired"), std::string::npos) << "only the leader decides";
}

}  // namespace
}  // namespace keel::test
