// The applied etcd state: key layout, backend values, and the rule that only
// events newer than what was applied change anything.
#include "proxy/cluster/cluster_view.hpp"

#include <gtest/gtest.h>

namespace keel::cluster {
namespace {

KeyValue kv(std::string key, std::string value, std::int64_t revision) {
  return {.key = std::move(key), .value = std::move(value), .create_revision = revision, .mod_revision = revision,
          .lease = 0};
}

const KeyLayout kLayout("/keel/");

TEST(ClusterKeys, ParsesWhatItBuilds) {
  const auto backend = kLayout.parse_pool_key(kLayout.backend("app", "[::1]:8081"));
  ASSERT_TRUE(backend);
  EXPECT_EQ(backend->kind, KeyLayout::PoolKey::Kind::backend);
  EXPECT_EQ(backend->pool, "app");
  EXPECT_EQ(backend->endpoint, "[::1]:8081");
  EXPECT_EQ(kLayout.parse_pool_key(kLayout.seeded("app"))->kind, KeyLayout::PoolKey::Kind::seeded);
  EXPECT_EQ(kLayout.parse_pool_key(kLayout.autoscale("app"))->kind, KeyLayout::PoolKey::Kind::autoscale);
  EXPECT_FALSE(kLayout.parse_pool_key("/keel/members/lb-1"));
  EXPECT_FALSE(kLayout.parse_pool_key("/keel/pools/app/backends/"));
  EXPECT_FALSE(kLayout.parse_pool_key("/keel/pools/app/other"));
}

TEST(ClusterKeys, BackendValuesRoundTripAndBadOnesSayWhy) {
  const BackendValue value{.address = "localhost:8081", .weight = 7, .state = BackendState::removing,
                           .removed_at_ms = 1234};
  std::string problem;
  const auto back = decode_backend(encode(value), problem);
  ASSERT_TRUE(back) << problem;
  EXPECT_EQ(back->address, "localhost:8081");
  EXPECT_EQ(back->weight, 7u);
  EXPECT_EQ(back->state, BackendState::removing);
  EXPECT_EQ(back->removed_at_ms, 1234);
  // Written by hand with etcdctl: weight and state may be left out.
  EXPECT_EQ(decode_backend(R"({"address":"127.0.0.1:1"})", problem)->weight, 1u);
  for (const char* bad : {"nope", R"({"weight":1})", R"({"address":"a:1","weight":0})",
                          R"({"address":"a:1","weight":1001})", R"({"address":"a:1","state":"gone"})"}) {
    problem.clear();
    EXPECT_FALSE(decode_backend(bad, problem)) << bad;
    EXPECT_FALSE(problem.empty()) << bad;
  }
}

TEST(ClusterKeys, MemberValuesRoundTrip) {
  MemberValue member{.instance = "lb-1", .started = "2026-12-04T00:00:00Z", .applied_revision = 9,
                     .load = {{"app", {.concurrency = 2.5, .waiting = 1}}},
                     .draining = {{"/keel/pools/app/backends/127.0.0.1:1", 3}}};
  const auto back = decode_member(encode(member));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->instance, "lb-1");
  EXPECT_EQ(back->applied_revision, 9);
  EXPECT_DOUBLE_EQ(back->load.at("app").concurrency, 2.5);
  EXPECT_EQ(back->load.at("app").waiting, 1u);
  EXPECT_EQ(back->draining.at("/keel/pools/app/backends/127.0.0.1:1"), 3u);
  EXPECT_FALSE(decode_member("{}"));
}

TEST(ClusterView, AppliesOnlyNewerEventsAndNamesTheChangedPools) {
  ClusterView view(kLayout);
  const auto changed = view.reset({kv("/keel/pools/app/seeded", "{}", 3),
                                   kv("/keel/pools/app/backends/127.0.0.1:1", R"({"address":"127.0.0.1:1"})", 4)},
                                  10);
  EXPECT_EQ(changed, (std::set<std::string>{"app"}));
  EXPECT_EQ(view.revision(), 10);
  EXPECT_TRUE(view.is_seeded("app"));
  ASSERT_EQ(view.backends("app").size(), 1u);

  // A resumed watch repeats revision 10: ignored.
  EXPECT_TRUE(view.apply({Event{.deleted = true, .kv = kv("/keel/pools/app/backends/127.0.0.1:1", "", 10)}}).empty());
  EXPECT_EQ(view.backends("app").size(), 1u);
  // Newer ones apply, in order, and move the revision.
  const auto next = view.apply({Event{.deleted = false, .kv = kv("/keel/pools/web/backends/127.0.0.1:2",
                                                                 R"({"address":"127.0.0.1:2"})", 11)},
                                Event{.deleted = true, .kv = kv("/keel/pools/app/backends/127.0.0.1:1", "", 12)}});
  EXPECT_EQ(next, (std::set<std::string>{"app", "web"}));
  EXPECT_EQ(view.revision(), 12);
  EXPECT_TRUE(view.backends("app").empty());
  EXPECT_EQ(view.backends("web").size(), 1u);
}

TEST(ClusterView, AResetIsOneSwapThatReportsEveryDifference) {
  ClusterView view(kLayout);
  view.reset({kv("/keel/pools/a/backends/127.0.0.1:1", R"({"address":"127.0.0.1:1"})", 2),
              kv("/keel/pools/b/backends/127.0.0.1:2", R"({"address":"127.0.0.1:2"})", 3)},
             20);
  // Restored from an older snapshot: revision back in time, b gone, c new, a unchanged.
  const auto changed = view.reset({kv("/keel/pools/a/backends/127.0.0.1:1", R"({"address":"127.0.0.1:1"})", 2),
                                   kv("/keel/pools/c/backends/127.0.0.1:3", R"({"address":"127.0.0.1:3"})", 5)},
                                  8);
  EXPECT_EQ(changed, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(view.revision(), 8);
}

TEST(ClusterView, SkipsValuesThatAreNotBackendsAndSaysWhich) {
  ClusterView view(kLayout);
  view.reset({kv("/keel/pools/a/backends/127.0.0.1:1", "garbage", 2),
              kv("/keel/pools/a/backends/127.0.0.1:2", R"({"address":"127.0.0.1:2","weight":2})", 3)},
             3);
  std::vector<std::string> problems;
  const auto backends = view.backends("a", &problems);
  ASSERT_EQ(backends.size(), 1u);
  EXPECT_EQ(backends[0].value.weight, 2u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace keel::cluster
