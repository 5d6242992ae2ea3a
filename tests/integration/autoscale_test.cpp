// Autoscaling end to end in process: the API, the webhook (with retries), the
// command hook, reloads, and scale from zero in the data path.
#include "proxy/worker/backend_wait.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

namespace keel::test {
namespace {

namespace json = boost::json;

// One pool "web" with the given backends and autoscale block (indented under
// "autoscale:"), an admin API, and `extra` at the top level.
std::string autoscaled_config(const std::vector<std::string>& backends, const std::string& autoscale,
                              const std::string& extra = {}) {
  std::ostringstream yaml;
  yaml << "workers: 2\nlisteners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\n"
       << "pools:\n  - name: web\n";
  if (backends.empty()) yaml << "    backends: []\n";
  else yaml << "    backends:\n";
  for (const auto& backend : backends) yaml << "      - { address: \"" << backend << "\" }\n";
  yaml << "    autoscale:\n" << autoscale << "  - name: plain\n    backends: []\n" << extra;
  return yaml.str();
}

std::optional<json::object> autoscale_of(TestClient& admin, const std::string& pool = "web") {
  auto response = admin.get("/api/v1/pools/" + pool + "/autoscale");
  if (response.result() != http::status::ok) return std::nullopt;
  return json::parse(response.body()).as_object();
}

std::int64_t desired_of(TestClient& admin) {
  const auto status = autoscale_of(admin);
  return status ? status->at("desired").as_int64() : -1;
}

// Waits for the next webhook POST and returns its JSON body.
std::optional<json::object> next_webhook(TestBackend& hook, std::chrono::milliseconds deadline = 5s) {
  const auto request = hook.next_request(deadline);
  if (!request) return std::nullopt;
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->target, "/scale");
  EXPECT_EQ(request->header("Content-Type"), "application/json");
  return json::parse(request->body).as_object();
}

TEST(Autoscale, ApiShowsTheRecommendationAnd404sOtherwise) {
  TestBackend a{"a"};
  KeelUnderTest keel{autoscaled_config({a.address()}, "      target_concurrency: 5\n      min_backends: 1\n")};
  TestClient admin{keel.admin_address()};
  ASSERT_TRUE(wait_until([&] { return autoscale_of(admin).has_value(); }, 5s));
  const auto status = *autoscale_of(admin);
  EXPECT_EQ(status.at("current").as_int64(), 1);
  EXPECT_EQ(status.at("desired").as_int64(), 1);
  EXPECT_EQ(status.at("observed_concurrency").to_number<double>(), 0.0);
  EXPECT_EQ(status.at("mode").as_string(), "stable");
  EXPECT_EQ(status.size(), 4u);

  auto plain = admin.get("/api/v1/pools/plain/autoscale");
  EXPECT_EQ(plain.result(), http::status::not_found);
  EXPECT_NE(plain.body().find("not autoscaled"), std::string::npos) << plain.body();
  EXPECT_EQ(admin.get("/api/v1/pools/nope/autoscale").result(), http::status::not_found);
  EXPECT_EQ(admin.request("POST", "/api/v1/pools/web/autoscale").result(), http::status::method_not_allowed);
}

TEST(Autoscale, ABurstPanicsAndTheWebhookHearsOfIt) {
  TestBackend hook{"hook"};
  TestBackend a{"a"};
  a.set_reply(Reply::text("slow").held());  // requests stay in flight until release()
  KeelUnderTest keel{autoscaled_config({a.address()},
                                       "      target_concurrency: 1\n      min_backends: 1\n"
                                       "      max_backends: 3\n      stable_window: 10s\n      panic_window: 2s\n"
                                       "      webhook: http://" + hook.address() + "/scale\n")};
  std::vector<std::future<TestResponse>> held;
  for (int i = 0; i < 4; ++i)
    held.push_back(std::async(std::launch::async, [&] { return TestClient{keel.address()}.get("/", {}, 15s); }));
  // 4 in flight on 1 backend of target 1: 4x capacity, panic; capped at max 3.
  const auto body = next_webhook(hook);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->at("pool").as_string(), "web");
  EXPECT_EQ(body->at("current").as_int64(), 1);
  EXPECT_GE(body->at("desired").as_int64(), 2);
  EXPECT_GT(body->at("observed_concurrency").to_number<double>(), 1.0);
  EXPECT_EQ(body->at("mode").as_string(), "panic");
  EXPECT_EQ(body->size(), 5u);
  TestClient admin{keel.admin_address()};
  ASSERT_TRUE(wait_until([&] { return desired_of(admin) == 3; }, 5s)) << desired_of(admin);
  EXPECT_EQ(autoscale_of(admin)->at("mode").as_string(), "panic");
  a.release();
  for (auto& response : held) EXPECT_EQ(response.get().result(), http::status::ok);
}

TEST(Autoscale, AFailedWebhookIsRetried) {
  TestBackend hook{"hook"};
  std::atomic<int> calls{0};
  hook.set_handler([&](const RecordedRequest&) {
    return ++calls == 1 ? Reply::text("down", http::status::service_unavailable) : Reply::text("ok");
  });
  // No backend and min 1: desired goes from 0 (the size) to 1 at the first decision.
  KeelUnderTest keel{autoscaled_config({}, "      min_backends: 1\n      webhook: http://" + hook.address() +
                                               "/scale\n")};
  const auto first = next_webhook(hook);
  ASSERT_TRUE(first);
  const auto retried = next_webhook(hook);
  ASSERT_TRUE(retried);
  EXPECT_EQ(*first, *retried);
  EXPECT_EQ(retried->at("current").as_int64(), 0);
  EXPECT_EQ(retried->at("desired").as_int64(), 1);
  EXPECT_FALSE(hook.next_request(500ms)) << "delivered once, not retried again";
}

TEST(Autoscale, TheCommandRunsWithTheValuesInItsEnvironment) {
  const std::string out = ::testing::TempDir() + "keel-autoscale-cmd-" + std::to_string(::getpid());
  std::remove(out.c_str());
  KeelUnderTest keel{autoscaled_config(
      {}, "      min_backends: 2\n      command: echo \"$KEEL_POOL $KEEL_CURRENT $KEEL_DESIRED "
          "$KEEL_OBSERVED_CONCURRENCY $KEEL_MODE\" > " + out + ".tmp && mv " + out + ".tmp " + out + "\n")};
  std::string line;
  ASSERT_TRUE(wait_until(
      [&] {
        std::ifstream file(out);
        return static_cast<bool>(std::getline(file, line));
      },
      5s));
  EXPECT_EQ(line, "web 0 2 0.000 stable");
  std::remove(out.c_str());
}

TEST(Autoscale, ReloadChangesTheSettingsAndCanTurnItOff) {
  TestBackend a{"a"}, b{"b"};
  const std::string path = ::testing::TempDir() + "keel-autoscale-reload-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << autoscaled_config({a.address(), b.address()}, "      min_backends: 1\n");
  KeelUnderTest keel{autoscaled_config({a.address(), b.address()}, "      min_backends: 1\n"), path};
  TestClient admin{keel.admin_address()};
  ASSERT_TRUE(wait_until([&] { return desired_of(admin) == 2; }, 5s));
  // min 3: the new window starts from the last recommendation, clamped up.
  std::ofstream(path) << autoscaled_config({a.address(), b.address()}, "      min_backends: 3\n");
  ASSERT_TRUE(keel.proxy().reload_and_wait().empty());
  ASSERT_TRUE(wait_until([&] { return desired_of(admin) == 3; }, 5s)) << desired_of(admin);
  std::ofstream(path) << "workers: 2\nlisteners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\n"
                         "pools:\n  - name: web\n    backends:\n      - { address: \"" + a.address() + "\" }\n";
  ASSERT_TRUE(keel.proxy().reload_and_wait().empty());
  EXPECT_EQ(admin.get("/api/v1/pools/web/autoscale").result(), http::status::not_found);
  std::remove(path.c_str());
}

const std::string kFromZero =
    "      target_concurrency: 1\n      min_backends: 0\n      max_backends: 2\n"
    "      stable_window: 4s\n      panic_window: 1s\n";

TEST(ScaleFromZero, ARequestWaitsForTheFirstBackendAddedThroughTheApi) {
  TestBackend hook{"hook"};
  TestBackend a{"a"};
  KeelUnderTest keel{autoscaled_config({}, kFromZero + "      webhook: http://" + hook.address() + "/scale\n")};
  TestClient admin{keel.admin_address()};
  auto pending = std::async(std::launch::async, [&] { return TestClient{keel.address()}.get("/first", {}, 15s); });
  // The held request is demand: desired 1 at once, announced.
  const auto body = next_webhook(hook);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->at("current").as_int64(), 0);
  EXPECT_EQ(body->at("desired").as_int64(), 1);
  EXPECT_EQ(desired_of(admin), 1);
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout);
  ASSERT_EQ(admin.request("POST", "/api/v1/pools/web/backends", {}, R"({"address":")" + a.address() + R"("})")
                .result(),
            http::status::created);
  const auto response = pending.get();
  EXPECT_EQ(response.result(), http::status::ok) << response.ec.message();
  EXPECT_EQ(response.body(), "ok from a");
  const auto seen = a.next_request(1s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->target, "/first");
}

TEST(ScaleFromZero, WaitingEndsWith503AfterTheUpstreamHeaderTimeout) {
  KeelUnderTest keel{autoscaled_config({}, kFromZero, "timeouts:\n  upstream_header: 1s\n")};
  const auto started = std::chrono::steady_clock::now();
  const auto response = TestClient{keel.address()}.get("/", {}, 10s);
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(response["Retry-After"], "1");
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 5s);
}

TEST(ScaleFromZero, APoolWithoutScaleFromZeroAnswers503AtOnce) {
  // "plain" has no backend and no autoscale: no waiting. A request that waited
  // would be held for upstream_header (20 s here), far past the client's 5 s.
  KeelUnderTest keel{autoscaled_config(
      {}, kFromZero, "timeouts:\n  upstream_header: 20s\nroutes:\n  - { path_prefix: /plain, pool: plain }\n")};
  const auto response = TestClient{keel.address()}.get("/plain", {}, 5s);
  EXPECT_EQ(response.result(), http::status::service_unavailable) << response.ec.message();
}

class ScaleFromZeroBound : public ::testing::Test {
 protected:
  ScaleFromZeroBound() { worker::max_waiting_per_pool = 2; }
  ~ScaleFromZeroBound() override { worker::max_waiting_per_pool = worker::kMaxWaitingPerPool; }
};

TEST_F(ScaleFromZeroBound, PastTheQueueBoundA503ComesAtOnce) {
  TestBackend a{"a"};
  // One worker, so the bound of 2 is the whole queue.
  auto yaml = autoscaled_config({}, kFromZero);
  yaml.replace(yaml.find("workers: 2"), 10, "workers: 1");
  KeelUnderTest keel{yaml};
  TestClient admin{keel.admin_address()};
  std::vector<std::future<TestResponse>> waiting;
  for (int i = 0; i < 2; ++i)
    waiting.push_back(std::async(std::launch::async, [&] { return TestClient{keel.address()}.get("/", {}, 15s); }));
  // Both are held once the autoscaler sees two waiting requests.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto status = autoscale_of(admin);
        return status && status->at("observed_concurrency").to_number<double>() >= 1.5;
      },
      5s));
  const auto started = std::chrono::steady_clock::now();
  const auto refused = TestClient{keel.address()}.get("/", {}, 5s);
  EXPECT_EQ(refused.result(), http::status::service_unavailable);
  EXPECT_EQ(refused["Retry-After"], "1");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  ASSERT_EQ(admin.request("POST", "/api/v1/pools/web/backends", {}, R"({"address":")" + a.address() + R"("})")
                .result(),
            http::status::created);
  for (auto& response : waiting) EXPECT_EQ(response.get().result(), http::status::ok);
}

}  // namespace
}  // namespace keel::test
