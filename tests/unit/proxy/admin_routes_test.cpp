#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "proxy/admin/admin_routes.hpp"
#include "proxy/admin/dashboard.hpp"
#include "proxy/admin/json_codec.hpp"

namespace keel::admin {
namespace {

namespace json = boost::json;

BackendInfo backend(std::string address, std::uint32_t weight = 1) {
  return {.address = std::move(address), .weight = weight, .state = "active", .health = "unknown",
          .active_requests = 0, .total_requests = 0};
}

std::string describe(const std::optional<std::uint32_t>& weight, const std::optional<AdminState>& state) {
  return "w=" + (weight ? std::to_string(*weight) : "-") + " state=" + (state ? std::string(to_string(*state)) : "-");
}

// A small in-memory control plane that records every change it is asked for.
class FakePoolAdmin final : public PoolAdmin {
 public:
  FakePoolAdmin() {
    BackendInfo busy = backend("127.0.0.1:8081", 2);
    busy.health = "healthy";
    busy.active_requests = 3;
    busy.total_requests = 42;
    pools_ = {{.name = "web", .balance = "round_robin", .backends = {busy, backend("[::1]:80")}},
              {.name = "api", .balance = "least_conn", .backends = {}}};
  }

  std::vector<std::string> calls;  // one line per change, in order
  std::optional<Outcome> forced;   // when set, every change answers this and changes nothing

  std::vector<PoolInfo> pools() const override { return pools_; }

  // "web" is autoscaled, "api" is not.
  std::vector<AutoscaleInfo> autoscaling() const override {
    return {{.pool = "web", .current = 2, .desired = 5, .observed_concurrency = 41.5, .mode = "panic", .decided_by = {}}};
  }

  std::optional<PoolInfo> pool(std::string_view name) const override {
    const PoolInfo* found = find(name);
    if (found == nullptr) return std::nullopt;
    return *found;
  }

  Outcome add_backend(std::string_view pool, const BackendRequest& request) override {
    calls.push_back("add " + std::string(pool) + " " + request.address + " w=" + std::to_string(request.weight));
    if (forced) return *forced;
    PoolInfo* found = find(pool);
    if (found == nullptr) return {.status = 404, .error = "unknown pool '" + std::string(pool) + "'"};
    if (find_backend(*found, request.address) != nullptr)
      return {.status = 409, .error = "backend '" + request.address + "' is already in pool 'web'"};
    found->backends.push_back(backend(request.address, request.weight));
    return {.status = 201, .error = {}};
  }

  Outcome replace_backends(std::string_view pool, const std::vector<BackendRequest>& requests) override {
    std::string line = "replace " + std::string(pool) + " [";
    for (const auto& request : requests) line += request.address + " w=" + std::to_string(request.weight) + ",";
    calls.push_back(line + "]");
    if (forced) return *forced;
    PoolInfo* found = find(pool);
    if (found == nullptr) return {.status = 404, .error = "unknown pool '" + std::string(pool) + "'"};
    found->backends.clear();
    for (const auto& request : requests) found->backends.push_back(backend(request.address, request.weight));
    return {.status = 200, .error = {}};
  }

  Outcome patch_backend(std::string_view pool, std::string_view address, std::optional<std::uint32_t> weight,
                        std::optional<AdminState> state) override {
    calls.push_back("patch " + std::string(pool) + " " + std::string(address) + " " + describe(weight, state));
    if (forced) return *forced;
    PoolInfo* found = find(pool);
    if (found == nullptr) return {.status = 404, .error = "unknown pool '" + std::string(pool) + "'"};
    BackendInfo* target = find_backend(*found, address);
    if (target == nullptr) return {.status = 404, .error = "unknown backend '" + std::string(address) + "'"};
    if (weight) target->weight = *weight;
    if (state) target->state = to_string(*state);
    return {.status = 200, .error = {}};
  }

  Outcome remove_backend(std::string_view pool, std::string_view address) override {
    calls.push_back("remove " + std::string(pool) + " " + std::string(address));
    if (forced) return *forced;
    PoolInfo* found = find(pool);
    if (found == nullptr) return {.status = 404, .error = "unknown pool '" + std::string(pool) + "'"};
    BackendInfo* target = find_backend(*found, address);
    if (target == nullptr) return {.status = 404, .error = "unknown backend '" + std::string(address) + "'"};
    target->state = "draining";
    return {.status = 202, .error = {}};
  }

  std::string metrics_text() const override { return "# TYPE keel_fake gauge\nkeel_fake 1\n"; }

 private:
  PoolInfo* find(std::string_view name) {
    const auto it = std::find_if(pools_.begin(), pools_.end(), [&](const PoolInfo& p) { return p.name == name; });
    return it == pools_.end() ? nullptr : &*it;
  }
  const PoolInfo* find(std::string_view name) const { return const_cast<FakePoolAdmin*>(this)->find(name); }
  static BackendInfo* find_backend(PoolInfo& pool, std::string_view address) {
    const auto it = std::find_if(pool.backends.begin(), pool.backends.end(),
                                 [&](const BackendInfo& b) { return b.address == address; });
    return it == pool.backends.end() ? nullptr : &*it;
  }

  std::vector<PoolInfo> pools_;
};

std::optional<std::string> header(const AdminResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers)
    if (key == name) return value;
  return std::nullopt;
}

json::value error_body(std::string_view message) { return json::object{{"error", message}}; }

constexpr std::string_view kToken = "s3cret-token-0123";

class AdminRoutesTest : public ::testing::Test {
 protected:
  AdminResponse send(std::string_view method, std::string_view target, std::string_view body = {},
                     std::optional<std::string_view> authorization = std::nullopt) {
    return routes_.handle({.method = method, .target = target, .body = body, .authorization = authorization}, admin_);
  }
  // With authentication on.
  AdminResponse send_guarded(std::string_view method, std::string_view target,
                             std::optional<std::string_view> authorization, std::string_view body = {}) {
    return guarded_.handle({.method = method, .target = target, .body = body, .authorization = authorization},
                           admin_);
  }

  FakePoolAdmin admin_;
  AdminRoutes routes_{};
  AdminRoutes guarded_{kToken};
};

TEST_F(AdminRoutesTest, ListsPoolsWithBackendsInTheContractShape) {
  const auto response = send("GET", "/api/v1/pools");
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.headers.empty());
  // Exact bytes: field names and order as docs/admin-api.md shows them.
  EXPECT_EQ(json::serialize(response.body),
            R"({"pools":[)"
            R"({"name":"web","balance":"round_robin","backends":[)"
            R"({"address":"127.0.0.1:8081","weight":2,"state":"active","health":"healthy","active_requests":3,"total_requests":42},)"
            R"({"address":"[::1]:80","weight":1,"state":"active","health":"unknown","active_requests":0,"total_requests":0}]},)"
            R"({"name":"api","balance":"least_conn","backends":[]}]})");
}

TEST_F(AdminRoutesTest, GetsOnePool) {
  const auto response = send("GET", "/api/v1/pools/api");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::serialize(response.body), R"({"name":"api","balance":"least_conn","backends":[]})");
}

TEST_F(AdminRoutesTest, UnknownPoolIs404) {
  const auto response = send("GET", "/api/v1/pools/nope");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, error_body("unknown pool 'nope'"));
}

TEST_F(AdminRoutesTest, HealthzIsOk) {
  for (const auto* method : {"GET", "HEAD"}) {
    const auto response = send(method, "/healthz");
    EXPECT_EQ(response.status, 200) << method;
    EXPECT_EQ(json::serialize(response.body), R"({"status":"ok"})");
  }
}

TEST_F(AdminRoutesTest, HeadIsAnsweredLikeGet) {
  EXPECT_EQ(send("HEAD", "/api/v1/pools").body, send("GET", "/api/v1/pools").body);
  EXPECT_EQ(send("HEAD", "/api/v1/pools/nope").status, 404);
}

TEST_F(AdminRoutesTest, PostAddsABackendWith201LocationAndThePool) {
  const auto response = send("POST", "/api/v1/pools/web/backends", R"({"address":"127.0.0.1:8083","weight":5})");
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(admin_.calls, std::vector<std::string>{"add web 127.0.0.1:8083 w=5"});
  EXPECT_EQ(header(response, "Location"), "/api/v1/pools/web/backends/127.0.0.1:8083");
  EXPECT_EQ(response.body, json::value(to_json(*admin_.pool("web"))));
  EXPECT_EQ(response.body.at("backends").as_array().size(), 3u);
}

TEST_F(AdminRoutesTest, PostWeightDefaultsToOneAndBoundsAreAccepted) {
  EXPECT_EQ(send("POST", "/api/v1/pools/web/backends", R"({"address":"h:1"})").status, 201);
  EXPECT_EQ(send("POST", "/api/v1/pools/web/backends", R"({"weight":1000,"address":"h:2"})").status, 201);
  EXPECT_EQ(send("POST", "/api/v1/pools/web/backends", R"({"address":"h:3","weight":1})").status, 201);
  EXPECT_EQ(admin_.calls, (std::vector<std::string>{"add web h:1 w=1", "add web h:2 w=1000", "add web h:3 w=1"}));
}

TEST_F(AdminRoutesTest, PostLocationEncodesAnIpv6Address) {
  const auto response = send("POST", "/api/v1/pools/api/backends", R"({"address":"[::1]:9000"})");
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(header(response, "Location"), "/api/v1/pools/api/backends/%5B::1%5D:9000");
}

TEST_F(AdminRoutesTest, PostDuplicateIs409) {
  const auto response = send("POST", "/api/v1/pools/web/backends", R"({"address":"127.0.0.1:8081"})");
  EXPECT_EQ(response.status, 409);
  EXPECT_EQ(response.body, error_body("backend '127.0.0.1:8081' is already in pool 'web'"));
  EXPECT_FALSE(header(response, "Location"));
}

TEST_F(AdminRoutesTest, PostToUnknownPoolIs404) {
  const auto response = send("POST", "/api/v1/pools/nope/backends", R"({"address":"127.0.0.1:8083"})");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, error_body("unknown pool 'nope'"));
}

TEST_F(AdminRoutesTest, PutReplacesTheSetAnd200sWithThePool) {
  const auto response = send("PUT", "/api/v1/pools/web/backends",
                             R"([{"address":"10.0.0.1:80","weight":2},{"address":"10.0.0.2:80"}])");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(admin_.calls, std::vector<std::string>{"replace web [10.0.0.1:80 w=2,10.0.0.2:80 w=1,]"});
  EXPECT_EQ(response.body.at("name"), "web");
  EXPECT_EQ(response.body.at("backends").as_array().size(), 2u);
}

TEST_F(AdminRoutesTest, PutAcceptsAnEmptySet) {
  EXPECT_EQ(send("PUT", "/api/v1/pools/web/backends", "[]").status, 200);
  EXPECT_EQ(admin_.calls, std::vector<std::string>{"replace web []"});
}

TEST_F(AdminRoutesTest, PutToUnknownPoolIs404) {
  EXPECT_EQ(send("PUT", "/api/v1/pools/nope/backends", "[]").status, 404);
}

TEST_F(AdminRoutesTest, PatchChangesWeightOrStateOrBoth) {
  EXPECT_EQ(send("PATCH", "/api/v1/pools/web/backends/127.0.0.1:8081", R"({"weight":3})").status, 200);
  EXPECT_EQ(send("PATCH", "/api/v1/pools/web/backends/127.0.0.1:8081", R"({"state":"draining"})").status, 200);
  const auto both = send("PATCH", "/api/v1/pools/web/backends/127.0.0.1:8081", R"({"state":"active","weight":7})");
  EXPECT_EQ(both.status, 200);
  EXPECT_EQ(admin_.calls, (std::vector<std::string>{"patch web 127.0.0.1:8081 w=3 state=-",
                                                    "patch web 127.0.0.1:8081 w=- state=draining",
                                                    "patch web 127.0.0.1:8081 w=7 state=active"}));
  EXPECT_EQ(both.body.at("backends").at(0).at("weight"), 7);
  EXPECT_EQ(both.body.at("backends").at(0).at("state"), "active");
}

TEST_F(AdminRoutesTest, PatchUnknownBackendOrPoolIs404) {
  auto response = send("PATCH", "/api/v1/pools/web/backends/127.0.0.1:9999", R"({"weight":3})");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, error_body("unknown backend '127.0.0.1:9999'"));
  EXPECT_EQ(send("PATCH", "/api/v1/pools/nope/backends/127.0.0.1:8081", R"({"weight":3})").status, 404);
}

TEST_F(AdminRoutesTest, DeleteDrainsWith202) {
  const auto response = send("DELETE", "/api/v1/pools/web/backends/127.0.0.1:8081");
  EXPECT_EQ(response.status, 202);
  EXPECT_EQ(admin_.calls, std::vector<std::string>{"remove web 127.0.0.1:8081"});
  EXPECT_EQ(response.body.at("backends").at(0).at("state"), "draining");
}

TEST_F(AdminRoutesTest, DeleteIgnoresABody) {
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/127.0.0.1:8081", "not json").status, 202);
}

TEST_F(AdminRoutesTest, DeleteUnknownBackendOrPoolIs404) {
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/127.0.0.1:9999").status, 404);
  EXPECT_EQ(send("DELETE", "/api/v1/pools/nope/backends/127.0.0.1:8081").status, 404);
}

TEST_F(AdminRoutesTest, ControlPlaneErrorsPassThrough) {
  const std::vector<Outcome> outcomes = {{.status = 400, .error = "cannot resolve 'nowhere.invalid:80'"},
                                         {.status = 404, .error = "unknown pool 'web'"},
                                         {.status = 409, .error = "duplicate"},
                                         {.status = 500, .error = "cannot write state file: disk full"}};
  for (const Outcome& outcome : outcomes) {
    admin_.forced = outcome;
    for (const auto& [method, target, body] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"POST", "/api/v1/pools/web/backends", R"({"address":"nowhere.invalid:80"})"},
             {"PUT", "/api/v1/pools/web/backends", R"([{"address":"nowhere.invalid:80"}])"},
             {"PATCH", "/api/v1/pools/web/backends/127.0.0.1:8081", R"({"weight":2})"},
             {"DELETE", "/api/v1/pools/web/backends/127.0.0.1:8081", ""}}) {
      const auto response = send(method, target, body);
      EXPECT_EQ(response.status, outcome.status) << method;
      EXPECT_EQ(response.body, error_body(outcome.error)) << method;
    }
  }
}

TEST_F(AdminRoutesTest, ControlPlaneErrorWithoutMessageGetsADefault) {
  admin_.forced = Outcome{.status = 500, .error = {}};
  const auto response = send("DELETE", "/api/v1/pools/web/backends/127.0.0.1:8081");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body, error_body("internal error"));
  admin_.forced = Outcome{.status = 42, .error = "nonsense status"};
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/127.0.0.1:8081").status, 500);
}

// The contract's success codes belong to the route, whatever 2xx the control plane says.
TEST_F(AdminRoutesTest, SuccessStatusIsTheContracts) {
  admin_.forced = Outcome{.status = 200, .error = {}};
  EXPECT_EQ(send("POST", "/api/v1/pools/web/backends", R"({"address":"h:1"})").status, 201);
  EXPECT_EQ(send("PUT", "/api/v1/pools/web/backends", "[]").status, 200);
  EXPECT_EQ(send("PATCH", "/api/v1/pools/web/backends/h:1", R"({"weight":2})").status, 200);
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/h:1").status, 202);
}

TEST_F(AdminRoutesTest, AddressInThePathIsPercentDecoded) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"127.0.0.1%3A8081", "127.0.0.1:8081"},
      {"127.0.0.1%3a8081", "127.0.0.1:8081"},
      {"127.0.0.1:8081", "127.0.0.1:8081"},
      {"%5B%3A%3A1%5D%3A80", "[::1]:80"},
      {"%5b::1%5d:80", "[::1]:80"},
      {"[::1]:80", "[::1]:80"},
      {"%31%32%37.0.0.1:8081", "127.0.0.1:8081"},
      {"a%2Fb:1", "a/b:1"},
      {"a+b:1", "a+b:1"},  // '+' is not a space in a path
  };
  for (const auto& [encoded, decoded] : cases) {
    admin_.calls.clear();
    send("DELETE", "/api/v1/pools/web/backends/" + encoded);
    EXPECT_EQ(admin_.calls, std::vector<std::string>{"remove web " + decoded}) << encoded;
    admin_.calls.clear();
    send("PATCH", "/api/v1/pools/web/backends/" + encoded, R"({"weight":4})");
    EXPECT_EQ(admin_.calls, std::vector<std::string>{"patch web " + decoded + " w=4 state=-"}) << encoded;
  }
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/%5B%3A%3A1%5D%3A80").status, 202);
}

TEST_F(AdminRoutesTest, PoolNameIsPercentDecodedToo) {
  EXPECT_EQ(send("GET", "/api/v1/pools/w%65b").status, 200);
  send("POST", "/api/v1/pools/%77eb/backends", R"({"address":"h:1"})");
  EXPECT_EQ(admin_.calls, std::vector<std::string>{"add web h:1 w=1"});
}

TEST_F(AdminRoutesTest, MalformedPercentEncodingIs400) {
  for (const auto* target : {"/api/v1/pools/web/backends/127.0.0.1%3", "/api/v1/pools/web/backends/%zz",
                             "/api/v1/pools/web/backends/%", "/api/v1/pools/w%g1b"}) {
    const auto response = send("DELETE", target);
    EXPECT_EQ(response.status, 400) << target;
    EXPECT_EQ(response.body, error_body("malformed percent-encoding in the request path")) << target;
  }
  EXPECT_TRUE(admin_.calls.empty());
}

TEST_F(AdminRoutesTest, QueryStringsAreIgnored) {
  EXPECT_EQ(send("GET", "/api/v1/pools?verbose=1").status, 200);
  EXPECT_EQ(send("GET", "/api/v1/pools/web?x=%zz").status, 200);
  EXPECT_EQ(send("GET", "/healthz?probe").status, 200);
  EXPECT_EQ(send("GET", "/healthz?").status, 200);
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/127.0.0.1%3A8081?now=1").status, 202);
  EXPECT_EQ(admin_.calls, std::vector<std::string>{"remove web 127.0.0.1:8081"});
}

TEST_F(AdminRoutesTest, AbsoluteFormTargetsUseTheirPath) {
  EXPECT_EQ(send("GET", "http://127.0.0.1:9901/api/v1/pools/web").status, 200);
  EXPECT_EQ(send("GET", "HTTP://admin.test/healthz?x").status, 200);
  EXPECT_EQ(send("GET", "http://admin.test").content_type, "text/html; charset=utf-8");  // path "/": the dashboard
  EXPECT_EQ(send("GET", "http://admin.test/ui/x").status, 404);
}

TEST_F(AdminRoutesTest, UnknownPathsAre404) {
  for (const auto* target :
       {"", "*", "/api", "/api/", "/api/v1", "/api/v1/", "/api/v2/pools", "/api/v1/pools/", "/api/v1/pool",
        "/API/v1/pools", "//api/v1/pools", "/api/v1/pools/web/", "/api/v1/pools/web/backend",
        "/api/v1/pools/web/backends/", "/api/v1/pools/web/backends/127.0.0.1:8081/x",
        "/api/v1/pools/web/autoscale/", "/api/v1/pools/web/autoscale/x", "/metrics/", "/metrics/x", "/healthz/",
        "/healthz/x", "/api/v1/pools//backends", "/ui/nope.js", "/ui/x/", "/ui/dashboard.js/", "/index.html"}) {
    const auto response = send("GET", target);
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(response.body, error_body("not found")) << target;
  }
  EXPECT_EQ(send("DELETE", "/api/v1/pools/web/backends/").status, 404);
  EXPECT_TRUE(admin_.calls.empty());
}

TEST_F(AdminRoutesTest, MetricsIsPrometheusTextFromTheControlPlane) {
  for (const auto* method : {"GET", "HEAD"}) {
    const auto response = send(method, "/metrics");
    EXPECT_EQ(response.status, 200);
    ASSERT_TRUE(response.text.has_value());
    EXPECT_EQ(*response.text, "# TYPE keel_fake gauge\nkeel_fake 1\n");
    EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  }
  EXPECT_EQ(send("GET", "/metrics?name[]=x").status, 200);
  EXPECT_EQ(send("POST", "/metrics").status, 405);
  EXPECT_EQ(header(send("POST", "/metrics"), "Allow"), "GET, HEAD");
}

TEST_F(AdminRoutesTest, MetricsNeedsNoTokenButTheApiDoes) {
  EXPECT_EQ(send_guarded("GET", "/metrics", std::nullopt).status, 200);
  EXPECT_EQ(send_guarded("GET", "/api/v1/pools", std::nullopt).status, 401);
}

TEST_F(AdminRoutesTest, DashboardPageAndItsFiles) {
  for (const auto* target : {"/", "/ui", "/ui/", "/?refresh=0.5", "/ui/index.html"}) {
    for (const auto* method : {"GET", "HEAD"}) {
      const auto response = send(method, target);
      EXPECT_EQ(response.status, 200) << target;
      EXPECT_EQ(response.content_type, "text/html; charset=utf-8") << target;
      ASSERT_TRUE(response.text) << target;
      EXPECT_NE(response.text->find("/ui/dashboard.js"), std::string::npos) << target;
      EXPECT_NE(header(response, "Content-Security-Policy").value_or("").find("script-src 'self'"), std::string::npos);
      EXPECT_EQ(header(response, "X-Content-Type-Options"), "nosniff");
    }
  }
  const auto script = send("GET", "/ui/dashboard.js");
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  ASSERT_TRUE(script.text);
  EXPECT_NE(script.text->find("/api/v1/pools"), std::string::npos);
  EXPECT_EQ(send("GET", "/ui/dashboard.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(send("POST", "/").status, 405);
  EXPECT_EQ(header(send("DELETE", "/ui/dashboard.js"), "Allow"), "GET, HEAD");
  EXPECT_TRUE(admin_.calls.empty());
}

// The page holds no data, so it is served without a token; what it shows comes
// from /api/, which asks for one.
TEST_F(AdminRoutesTest, DashboardNeedsNoTokenButTheApiItCallsDoes) {
  EXPECT_EQ(send_guarded("GET", "/", std::nullopt).status, 200);
  EXPECT_EQ(send_guarded("GET", "/ui/dashboard.js", std::nullopt).status, 200);
  EXPECT_EQ(send_guarded("GET", "/api/v1/pools", std::nullopt).status, 401);
  EXPECT_EQ(send_guarded("GET", "/api/v1/pools/web/autoscale", std::nullopt).status, 401);
}

TEST_F(AdminRoutesTest, EveryDashboardFileIsEmbedded) {
  std::vector<std::string_view> names;
  for (const auto& file : dashboard_files()) {
    names.push_back(file.name);
    EXPECT_FALSE(file.content.empty()) << file.name;
  }
  EXPECT_EQ(names, (std::vector<std::string_view>{"index.html", "dashboard.css", "dashboard.js"}));
}

TEST_F(AdminRoutesTest, AutoscaleOfAnAutoscaledPool) {
  const auto response = send("GET", "/api/v1/pools/web/autoscale");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body,
            json::parse(R"({"current":2,"desired":5,"observed_concurrency":41.5,"mode":"panic"})"));
  EXPECT_EQ(send("HEAD", "/api/v1/pools/web/autoscale").status, 200);
  EXPECT_EQ(send("GET", "/api/v1/pools/w%65b/autoscale?x=1").status, 200);
}

TEST_F(AdminRoutesTest, AutoscaleOfAPoolWithoutItOrOfNoPoolIs404) {
  const auto plain = send("GET", "/api/v1/pools/api/autoscale");
  EXPECT_EQ(plain.status, 404);
  EXPECT_EQ(plain.body, error_body("pool 'api' is not autoscaled (it has no 'autoscale' settings)"));
  const auto unknown = send("GET", "/api/v1/pools/nope/autoscale");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, error_body("unknown pool 'nope'"));
}

TEST_F(AdminRoutesTest, AutoscaleIsReadOnly) {
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
    const auto response = send(method, "/api/v1/pools/web/autoscale");
    EXPECT_EQ(response.status, 405) << method;
  }
  EXPECT_TRUE(admin_.calls.empty());
}

TEST_F(AdminRoutesTest, WrongMethodIs405WithAllow) {
  struct Case {
    std::string method;
    std::string target;
    std::string allow;
  };
  const std::vector<Case> cases = {
      {"POST", "/healthz", "GET, HEAD"},
      {"DELETE", "/healthz", "GET, HEAD"},
      {"POST", "/api/v1/pools", "GET, HEAD"},
      {"PUT", "/api/v1/pools", "GET, HEAD"},
      {"DELETE", "/api/v1/pools/web", "GET, HEAD"},
      {"PATCH", "/api/v1/pools/web", "GET, HEAD"},
      {"GET", "/api/v1/pools/web/backends", "POST, PUT"},
      {"DELETE", "/api/v1/pools/web/backends", "POST, PUT"},
      {"PATCH", "/api/v1/pools/web/backends", "POST, PUT"},
      {"GET", "/api/v1/pools/web/backends/127.0.0.1:8081", "PATCH, DELETE"},
      {"POST", "/api/v1/pools/web/backends/127.0.0.1:8081", "PATCH, DELETE"},
      {"PUT", "/api/v1/pools/web/backends/127.0.0.1:8081", "PATCH, DELETE"},
      {"get", "/api/v1/pools", "GET, HEAD"},  // methods are case-sensitive
      {"OPTIONS", "/api/v1/pools/nope/backends", "POST, PUT"},  // 405 before the pool is looked up
  };
  for (const Case& c : cases) {
    const auto response = send(c.method, c.target);
    EXPECT_EQ(response.status, 405) << c.method << " " << c.target;
    EXPECT_EQ(header(response, "Allow"), c.allow) << c.method << " " << c.target;
    EXPECT_EQ(response.body, error_body("method not allowed; allowed: " + c.allow));
  }
  EXPECT_TRUE(admin_.calls.empty());
}

struct BodyCase {
  std::string body;
  std::string error;
};

void expect_refused(const std::vector<BodyCase>& cases,
                    const std::function<AdminResponse(const std::string&)>& send_body, FakePoolAdmin& admin) {
  for (const BodyCase& c : cases) {
    const auto response = send_body(c.body);
    EXPECT_EQ(response.status, 400) << c.body;
    EXPECT_EQ(response.body, error_body(c.error)) << c.body;
  }
  EXPECT_TRUE(admin.calls.empty()) << "a refused body must not reach the control plane";
}

TEST_F(AdminRoutesTest, PostBodyErrors) {
  const std::vector<BodyCase> cases = {
      {"", "request body is empty; expected a JSON object"},
      {" \r\n", "request body is empty; expected a JSON object"},
      {"{", "request body is not valid JSON (incomplete JSON at offset 1)"},
      {R"({"address":"h:1",})", "request body is not valid JSON (syntax error at offset 17)"},
      {R"({"address":"h:1"} x)", "request body is not valid JSON (extra data at offset 18)"},
      {"address=h:1&weight=1", "request body is not valid JSON (syntax error at offset 0)"},
      {"[]", "expected a JSON object, got an array"},
      {R"("h:1")", "expected a JSON object, got a string"},
      {"3", "expected a JSON object, got a number"},
      {"null", "expected a JSON object, got null"},
      {"{}", "missing field 'address'"},
      {R"({"weight":1})", "missing field 'address'"},
      {R"({"address":8081})", "address must be a string (host:port), got a number"},
      {R"({"address":null})", "address must be a string (host:port), got null"},
      {R"({"address":["h:1"]})", "address must be a string (host:port), got an array"},
      {R"({"address":""})", "address must not be empty"},
      {R"({"address":"h:1","weight":0})", "weight must be from 1 to 1000, got 0"},
      {R"({"address":"h:1","weight":1001})", "weight must be from 1 to 1000, got 1001"},
      {R"({"address":"h:1","weight":-1})", "weight must be from 1 to 1000, got -1"},
      {R"({"address":"h:1","weight":18446744073709551615})",
       "weight must be from 1 to 1000, got 18446744073709551615"},
      {R"({"address":"h:1","weight":1.5})", "weight must be an integer from 1 to 1000, got a number"},
      {R"({"address":"h:1","weight":2.0})", "weight must be an integer from 1 to 1000, got a number"},
      {R"({"address":"h:1","weight":1e2})", "weight must be an integer from 1 to 1000, got a number"},
      {R"({"address":"h:1","weight":"3"})", "weight must be an integer from 1 to 1000, got a string"},
      {R"({"address":"h:1","weight":true})", "weight must be an integer from 1 to 1000, got a boolean"},
      {R"({"address":"h:1","weight":null})", "weight must be an integer from 1 to 1000, got null"},
      {R"({"address":"h:1","wieght":2})", "unknown field 'wieght'"},
      {R"({"address":"h:1","state":"active"})", "unknown field 'state'"},
      // Every problem at once.
      {R"({"adress":"h:1","weight":0,"x":1})",
       "missing field 'address'; weight must be from 1 to 1000, got 0; unknown field 'adress'; unknown field 'x'"},
  };
  expect_refused(cases,
                 [&](const std::string& body) { return send("POST", "/api/v1/pools/web/backends", body); }, admin_);
}

TEST_F(AdminRoutesTest, PutBodyErrors) {
  std::string many = "[";
  for (int i = 0; i < 25; ++i) many += std::string(i == 0 ? "" : ",") + "{}";
  many += "]";
  std::string many_error;
  for (int i = 0; i < 20; ++i)
    many_error += (i == 0 ? "" : "; ") + std::string("backends[") + std::to_string(i) + "]: missing field 'address'";
  many_error += "; and 5 more";
  const std::vector<BodyCase> cases = {
      {"", "request body is empty; expected a JSON array of backends"},
      {"[", "request body is not valid JSON (incomplete JSON at offset 1)"},
      {R"({"address":"h:1"})", "expected a JSON array of backends, got an object"},
      {"[5]", "backends[0]: expected a JSON object, got a number"},
      {R"([{"address":"h:1"},"h:2",{"weight":2}])",
       "backends[1]: expected a JSON object, got a string; backends[2]: missing field 'address'"},
      {R"([{"address":"h:1","x":1}])", "backends[0]: unknown field 'x'"},
      {R"([{"address":"h:1","weight":0}])", "backends[0]: weight must be from 1 to 1000, got 0"},
      {many, many_error},
  };
  expect_refused(cases,
                 [&](const std::string& body) { return send("PUT", "/api/v1/pools/web/backends", body); }, admin_);
}

TEST_F(AdminRoutesTest, PatchBodyErrors) {
  const std::vector<BodyCase> cases = {
      {"", "request body is empty; expected a JSON object"},
      {"{}", "expected 'weight' or 'state'"},
      {"[]", "expected a JSON object, got an array"},
      {R"({"weight":0})", "weight must be from 1 to 1000, got 0"},
      {R"({"weight":"2"})", "weight must be an integer from 1 to 1000, got a string"},
      {R"({"state":"paused"})", "state must be 'active' or 'draining'"},
      {R"({"state":"Active"})", "state must be 'active' or 'draining'"},
      {R"({"state":1})", "state must be 'active' or 'draining'"},
      {R"({"state":null})", "state must be 'active' or 'draining'"},
      {R"({"address":"h:1"})", "unknown field 'address'; expected 'weight' or 'state'"},
      {R"({"weight":2,"health":"healthy"})", "unknown field 'health'"},
      {R"({"weight":0,"state":"x"})", "weight must be from 1 to 1000, got 0; state must be 'active' or 'draining'"},
  };
  expect_refused(cases, [&](const std::string& body) {
    return send("PATCH", "/api/v1/pools/web/backends/127.0.0.1:8081", body);
  }, admin_);
}

TEST_F(AdminRoutesTest, WithATokenEveryApiRequestNeedsIt) {
  const std::string good = "Bearer " + std::string(kToken);
  EXPECT_EQ(send_guarded("GET", "/api/v1/pools", good).status, 200);
  const auto response = send_guarded("GET", "/api/v1/pools", std::nullopt);
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.body, error_body("missing or invalid bearer token"));
  EXPECT_EQ(header(response, "WWW-Authenticate"), "Bearer");
}

TEST_F(AdminRoutesTest, BearerCheckCases) {
  std::string same_length_wrong(kToken);
  same_length_wrong.back() = same_length_wrong.back() == 'x' ? 'y' : 'x';
  std::string first_byte_wrong(kToken);
  first_byte_wrong.front() = 'X';
  struct Case {
    std::optional<std::string> authorization;
    int status;
  };
  const std::vector<Case> cases = {
      {"Bearer " + std::string(kToken), 200},
      {"bearer " + std::string(kToken), 200},  // the scheme is case-insensitive
      {"BEARER " + std::string(kToken), 200},
      {"Bearer   " + std::string(kToken) + "  ", 200},
      {"Bearer " + same_length_wrong, 401},
      {"Bearer " + first_byte_wrong, 401},
      {"Bearer " + std::string(kToken).substr(0, kToken.size() - 1), 401},  // a prefix
      {"Bearer " + std::string(kToken) + "x", 401},                        // longer
      {"Bearer " + std::string(kToken) + " extra", 401},
      {"Bearer x", 401},
      {"Bearer ", 401},
      {"Bearer", 401},
      {"Bearer" + std::string(kToken), 401},
      {std::string(kToken), 401},
      {"", 401},
      {"Basic " + std::string(kToken), 401},
      {"Basic dXNlcjpzM2NyZXQ=", 401},
      {"Token " + std::string(kToken), 401},
      {std::nullopt, 401},
  };
  for (const Case& c : cases) {
    const auto response = c.authorization ? send_guarded("GET", "/api/v1/pools", std::string_view(*c.authorization))
                                          : send_guarded("GET", "/api/v1/pools", std::nullopt);
    EXPECT_EQ(response.status, c.status) << (c.authorization ? *c.authorization : "(none)");
  }
}

TEST_F(AdminRoutesTest, AuthenticationComesBeforeRoutingAndBodies) {
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"GET", "/api/v1/pools/nope"},          // would be 404
      {"GET", "/api/v9/whatever"},            // unknown /api/ path
      {"GET", "/api"},                        // the bare prefix
      {"DELETE", "/api/v1/pools"},            // would be 405
      {"POST", "/api/v1/pools/web/backends"},  // would be 400 (no body)
      {"GET", "/%61pi/v1/pools"},             // an encoded "api" is still the API
      {"GET", "/api/v1/pools/%zz"},           // would be 400 (bad escape)
      {"PATCH", "/api/v1/pools/web/backends/127.0.0.1:8081"},
  };
  for (const auto& [method, target] : requests) {
    EXPECT_EQ(send_guarded(method, target, std::nullopt).status, 401) << method << " " << target;
    EXPECT_EQ(send_guarded(method, target, "Bearer wrong").status, 401) << method << " " << target;
  }
  EXPECT_TRUE(admin_.calls.empty());
}

// What the server asks once a request's header is read, before its body: the same
// decision handle() makes, from the target and Authorization alone.
TEST_F(AdminRoutesTest, RefuseUnauthorizedDecidesFromTheHeaderAlone) {
  const std::string good = "Bearer " + std::string(kToken);
  for (const auto* target : {"/api/v1/pools/web/backends", "/%61pi/v1/pools", "/api/v1/pools/%zz", "/api"}) {
    const auto refused = guarded_.refuse_unauthorized({.method = "POST", .target = target});
    ASSERT_TRUE(refused) << target;
    EXPECT_EQ(refused->status, 401);
    EXPECT_EQ(header(*refused, "WWW-Authenticate"), "Bearer");
    EXPECT_FALSE(guarded_.refuse_unauthorized({.method = "POST", .target = target, .authorization = good}))
        << target;
    EXPECT_FALSE(routes_.refuse_unauthorized({.method = "POST", .target = target})) << target;
  }
  EXPECT_FALSE(guarded_.refuse_unauthorized({.method = "POST", .target = "/healthz"}));
  EXPECT_TRUE(admin_.calls.empty());
}

TEST_F(AdminRoutesTest, HealthzAndNonApiPathsNeedNoToken) {
  EXPECT_EQ(send_guarded("GET", "/healthz", std::nullopt).status, 200);
  EXPECT_EQ(send_guarded("GET", "/healthz", "Bearer wrong").status, 200);
  EXPECT_EQ(send_guarded("GET", "/metrics", std::nullopt).status, 200);
}

TEST_F(AdminRoutesTest, WithoutATokenNothingIsChecked) {
  EXPECT_EQ(send("GET", "/api/v1/pools", std::string_view(), std::nullopt).status, 200);
  EXPECT_EQ(send("GET", "/api/v1/pools", std::string_view(), "Bearer anything").status, 200);
  EXPECT_EQ(send("GET", "/api/v1/pools", std::string_view(), "Basic abc").status, 200);
}

TEST_F(AdminRoutesTest, TheTokenIsNeverEchoed) {
  const std::vector<std::optional<std::string>> authorizations = {
      std::nullopt, "Bearer guess-guess-guess", "Bearer " + std::string(kToken)};
  std::vector<AdminResponse> responses;
  for (const auto& authorization : authorizations) {
    for (const auto* target : {"/api/v1/pools", "/api/v1/pools/nope", "/healthz", "/nope"}) {
      responses.push_back(send_guarded(
          "GET", target, authorization ? std::optional<std::string_view>(*authorization) : std::nullopt));
    }
  }
  for (const AdminResponse& response : responses) {
    EXPECT_EQ(json::serialize(response.body).find(kToken), std::string::npos);
    EXPECT_EQ(json::serialize(response.body).find("guess"), std::string::npos);
    for (const auto& [name, value] : response.headers) EXPECT_EQ(value.find(kToken), std::string::npos) << name;
  }
}

TEST(AdminBearerAuth, ComparesDigestsOfAnyLength) {
  const BearerAuth auth{"abc"};
  EXPECT_TRUE(auth.is_enabled());
  EXPECT_TRUE(auth.accepts("Bearer abc"));
  EXPECT_TRUE(auth.accepts("bEaReR\tabc"));
  EXPECT_FALSE(auth.accepts("Bearer abd"));
  EXPECT_FALSE(auth.accepts("Bearer ab"));
  EXPECT_FALSE(auth.accepts("Bearer abcd"));
  EXPECT_FALSE(auth.accepts("Bearer " + std::string(10000, 'a')));
  EXPECT_FALSE(auth.accepts(std::nullopt));

  const BearerAuth off{""};
  EXPECT_FALSE(off.is_enabled());
  EXPECT_TRUE(off.accepts(std::nullopt));
}

TEST(AdminJsonCodec, BackendFieldsInContractOrder) {
  const BackendInfo info{.address = "127.0.0.1:8081", .weight = 1, .state = "draining", .health = "unhealthy",
                         .active_requests = 0, .total_requests = 18446744073709551615ull};
  EXPECT_EQ(json::serialize(to_json(info)),
            R"({"address":"127.0.0.1:8081","weight":1,"state":"draining","health":"unhealthy",)"
            R"("active_requests":0,"total_requests":18446744073709551615})");
}

TEST(AdminJsonCodec, BackendExplainsItsHealthWhenKnown) {
  BackendInfo info{.address = "127.0.0.1:8081", .weight = 1, .state = "active", .health = "unhealthy"};
  info.check = CheckInfo{.last = "2026-12-04T17:00:00Z", .passed = false, .detail = "status 503",
                         .latency_ms = 1.5, .consecutive = 3};
  info.ejected = EjectionInfo{.until = "2026-12-04T17:00:10Z", .reason = "3 connect failures"};
  const json::object shown = to_json(info);
  EXPECT_EQ(shown.at("check"), json::parse(R"({"last":"2026-12-04T17:00:00Z","result":"fail","detail":"status 503",)"
                                            R"("latency_ms":1.5,"consecutive":3})"));
  EXPECT_EQ(shown.at("ejected"), json::parse(R"({"until":"2026-12-04T17:00:10Z","reason":"3 connect failures"})"));
  info.check->passed = true;
  EXPECT_EQ(to_json(info).at("check").at("result"), "pass");

  // Neither field without something to say.
  info.check.reset();
  info.ejected.reset();
  EXPECT_FALSE(to_json(info).contains("check"));
  EXPECT_FALSE(to_json(info).contains("ejected"));
}

TEST(AdminJsonCodec, ParsesValidBodies) {
  const auto backend = parse_backend(R"( {"weight": 7, "address": "[::1]:80"} )");
  ASSERT_TRUE(backend.ok()) << backend.error;
  EXPECT_EQ(backend.value.address, "[::1]:80");
  EXPECT_EQ(backend.value.weight, 7u);

  const auto list = parse_backend_list(R"([{"address":"a:1"},{"address":"b:2","weight":3}])");
  ASSERT_TRUE(list.ok()) << list.error;
  ASSERT_EQ(list.value.size(), 2u);
  EXPECT_EQ(list.value[0].weight, 1u);
  EXPECT_EQ(list.value[1].address, "b:2");
  EXPECT_EQ(list.value[1].weight, 3u);

  const auto patch = parse_patch(R"({"state":"draining"})");
  ASSERT_TRUE(patch.ok()) << patch.error;
  EXPECT_FALSE(patch.value.weight);
  EXPECT_EQ(patch.value.state, AdminState::draining);
}

TEST(AdminPath, DecodesSegmentsAndDropsTheQuery) {
  EXPECT_EQ(decode_path("/api/v1/pools/a%2Fb/backends/%5B::1%5D:80?x=%zz"),
            (std::vector<std::string>{"api", "v1", "pools", "a/b", "backends", "[::1]:80"}));
  EXPECT_EQ(decode_path("/"), std::vector<std::string>{""});
  EXPECT_EQ(decode_path("//x/"), (std::vector<std::string>{"", "x", ""}));
  EXPECT_EQ(decode_path("*"), std::vector<std::string>{});
  EXPECT_EQ(decode_path("/a%4"), std::nullopt);
  EXPECT_EQ(decode_path("/a%4g"), std::nullopt);
}

TEST(AdminPath, EncodedSegmentsDecodeBack) {
  for (const std::string& segment : std::vector<std::string>{"127.0.0.1:8081", "[::1]:80", "a/b?c#d e%f", std::string("\0\xff", 2)}) {
    const std::string encoded = encode_path_segment(segment);
    EXPECT_EQ(encoded.find_first_of(std::string_view("/?#[] \0", 7)), std::string::npos) << encoded;
    EXPECT_EQ(decode_path("/" + encoded), std::vector<std::string>{segment}) << encoded;
  }
  EXPECT_EQ(encode_path_segment("[::1]:80"), "%5B::1%5D:80");
  EXPECT_EQ(encode_path_segment("web-1_a.b~c"), "web-1_a.b~c");
}

}  // namespace
}  // namespace keel::admin
