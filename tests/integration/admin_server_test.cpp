// The admin server over real sockets: HTTP round trips, keep-alive, pipelining, bearer
// auth, the header and body limits, malformed requests, timeouts, the connection cap and
// stop(). The routes themselves are covered by tests/unit/proxy/admin_routes_test.cpp.
#include "proxy/admin/admin_server.hpp"
#include "tests/support/test_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using admin::AdminLimits;
using admin::AdminServer;
using admin::AdminState;
using admin::BackendInfo;
using admin::BackendRequest;
using admin::Outcome;
using admin::PoolInfo;

// A thread-safe in-memory control plane: the server calls it on its io thread, the test
// reads what it recorded on the test thread. pool("explode") throws.
class FakePoolAdmin final : public admin::PoolAdmin {
 public:
  std::vector<PoolInfo> pools() const override {
    std::lock_guard lock(mutex_);
    return {pool_};
  }

  std::vector<admin::AutoscaleInfo> autoscaling() const override {
    return {{.pool = "web", .current = 1, .desired = 4, .observed_concurrency = 32.0, .mode = "panic", .decided_by = {}}};
  }

  std::optional<PoolInfo> pool(std::string_view name) const override {
    if (name == "explode") throw std::runtime_error("the fake exploded");
    std::lock_guard lock(mutex_);
    if (name != pool_.name) return std::nullopt;
    return pool_;
  }

  Outcome add_backend(std::string_view pool, const BackendRequest& request) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("add " + std::string(pool) + " " + request.address);
    if (pool != pool_.name) return {.status = 404, .error = "unknown pool '" + std::string(pool) + "'"};
    if (find(request.address) != nullptr) return {.status = 409, .error = "duplicate backend"};
    pool_.backends.push_back({.address = request.address, .weight = request.weight, .state = "active",
                              .health = "unknown", .active_requests = 0, .total_requests = 0});
    return {.status = 201, .error = {}};
  }

  Outcome replace_backends(std::string_view pool, const std::vector<BackendRequest>& requests) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("replace " + std::string(pool) + " " + std::to_string(requests.size()));
    if (pool != pool_.name) return {.status = 404, .error = "unknown pool '" + std::string(pool) + "'"};
    pool_.backends.clear();
    for (const auto& request : requests)
      pool_.backends.push_back({.address = request.address, .weight = request.weight, .state = "active",
                                .health = "unknown", .active_requests = 0, .total_requests = 0});
    return {.status = 200, .error = {}};
  }

  Outcome patch_backend(std::string_view pool, std::string_view address, std::optional<std::uint32_t> weight,
                        std::optional<AdminState> state) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("patch " + std::string(pool) + " " + std::string(address));
    BackendInfo* backend = pool == pool_.name ? find(address) : nullptr;
    if (backend == nullptr) return {.status = 404, .error = "unknown backend"};
    if (weight) backend->weight = *weight;
    if (state) backend->state = *state == AdminState::active ? "active" : "draining";
    return {.status = 200, .error = {}};
  }

  Outcome remove_backend(std::string_view pool, std::string_view address) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("remove " + std::string(pool) + " " + std::string(address));
    BackendInfo* backend = pool == pool_.name ? find(address) : nullptr;
    if (backend == nullptr) return {.status = 404, .error = "unknown backend"};
    backend->state = "draining";
    return {.status = 202, .error = {}};
  }

  std::string metrics_text() const override { return "keel_fake_total 7\n"; }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  BackendInfo* find(std::string_view address) {
    const auto it = std::find_if(pool_.backends.begin(), pool_.backends.end(),
                                 [&](const BackendInfo& b) { return b.address == address; });
    return it == pool_.backends.end() ? nullptr : &*it;
  }

  mutable std::mutex mutex_;
  PoolInfo pool_{.name = "web",
                 .balance = "round_robin",
                 .backends = {{.address = "127.0.0.1:8081", .weight = 1, .state = "active", .health = "healthy",
                               .active_requests = 0, .total_requests = 5}}};
  std::vector<std::string> calls_;
};

// An AdminServer on 127.0.0.1:0, run by its own io thread (the "control thread");
// bound and accepting before the constructor returns.
class AdminUnderTest {
 public:
  explicit AdminUnderTest(std::string token = {}, AdminLimits limits = {})
      : server_(std::make_unique<AdminServer>(io_, asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(), 0},
                                              std::move(token), admin_, limits)) {
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~AdminUnderTest() {
    on_io_thread([this] { server_.reset(); });
    guard_.reset();
    thread_.join();  // returns once every connection coroutine has ended
  }

  AdminUnderTest(const AdminUnderTest&) = delete;
  AdminUnderTest& operator=(const AdminUnderTest&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakePoolAdmin& admin() { return admin_; }
  void stop() {
    on_io_thread([this] { server_->stop(); });
  }

 private:
  void on_io_thread(const std::function<void()>& work) {
    std::promise<void> done;
    asio::post(io_, [&] {
      if (server_) work();
      done.set_value();
    });
    done.get_future().wait();
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  FakePoolAdmin admin_;
  std::unique_ptr<AdminServer> server_;
  unsigned short port_ = server_->endpoint().port();
  std::thread thread_;
};

json::value body_json(const TestResponse& response) { return json::parse(response.body()); }

json::value error_body(std::string_view message) { return json::object{{"error", message}}; }

std::string request_head(std::string_view method, std::string_view target, std::string_view extra = {}) {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: admin.test\r\n" + std::string(extra) +
         "\r\n";
}

TEST(AdminServer, BindsPortZeroAndReportsTheRealPort) {
  asio::io_context io;
  FakePoolAdmin admin;
  AdminServer server(io, {asio::ip::address_v4::loopback(), 0}, "", admin);
  EXPECT_NE(server.endpoint().port(), 0);
  EXPECT_EQ(server.endpoint().address(), asio::ip::address_v4::loopback());
}

TEST(AdminServer, BindFailureNamesTheAddress) {
  asio::io_context io;
  FakePoolAdmin admin;
  AdminServer first(io, {asio::ip::address_v4::loopback(), 0}, "", admin);
  const std::string address = "127.0.0.1:" + std::to_string(first.endpoint().port());
  try {
    AdminServer second(io, first.endpoint(), "", admin);
    FAIL() << "bound twice to " << address;
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot listen on " + address + ": ", 0), 0u) << e.what();
  }
}

TEST(AdminServer, RoundTripsOnOneKeepAliveConnection) {
  AdminUnderTest server;
  TestClient client{server.address()};
  const std::string local = client.local_address();

  auto health = client.get("/healthz");
  ASSERT_EQ(health.result(), http::status::ok) << health.ec.message();
  EXPECT_EQ(health["Content-Type"], "application/json");
  EXPECT_EQ(body_json(health), json::parse(R"({"status":"ok"})"));
  EXPECT_TRUE(health.keep_alive());

  auto pools = client.get("/api/v1/pools");
  ASSERT_EQ(pools.result(), http::status::ok);
  EXPECT_EQ(body_json(pools), json::parse(R"({"pools":[{"name":"web","balance":"round_robin","backends":[
      {"address":"127.0.0.1:8081","weight":1,"state":"active","health":"healthy","active_requests":0,
       "total_requests":5}]}]})"));

  auto added = client.request("POST", "/api/v1/pools/web/backends", {{"Content-Type", "application/json"}},
                              R"({"address":"[::1]:8083","weight":3})");
  ASSERT_EQ(added.result(), http::status::created);
  EXPECT_EQ(added["Location"], "/api/v1/pools/web/backends/%5B::1%5D:8083");
  EXPECT_EQ(body_json(added).at("backends").as_array().size(), 2u);

  EXPECT_EQ(client.request("POST", "/api/v1/pools/web/backends", {}, R"({"address":"[::1]:8083"})").result(),
            http::status::conflict);
  auto patched = client.request("PATCH", "/api/v1/pools/web/backends/%5B%3A%3A1%5D%3A8083", {}, R"({"weight":9})");
  ASSERT_EQ(patched.result(), http::status::ok);
  EXPECT_EQ(body_json(patched).at("backends").at(1).at("weight"), 9);
  EXPECT_EQ(client.request("DELETE", "/api/v1/pools/web/backends/127.0.0.1%3A8081").result(),
            http::status::accepted);
  EXPECT_EQ(client.request("PUT", "/api/v1/pools/web/backends", {}, "[]").result(), http::status::ok);

  auto bad = client.request("POST", "/api/v1/pools/web/backends", {}, R"({"address":"h:1","weight":0})");
  EXPECT_EQ(bad.result(), http::status::bad_request);
  EXPECT_EQ(body_json(bad), error_body("weight must be from 1 to 1000, got 0"));
  auto wrong_method = client.request("DELETE", "/api/v1/pools");
  EXPECT_EQ(wrong_method.result(), http::status::method_not_allowed);
  EXPECT_EQ(wrong_method["Allow"], "GET, HEAD");
  auto metrics = client.get("/metrics");
  EXPECT_EQ(metrics.result(), http::status::ok);
  EXPECT_EQ(metrics["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body(), "keel_fake_total 7\n");
  auto missing = client.get("/nope");
  EXPECT_EQ(missing.result(), http::status::not_found);
  EXPECT_EQ(body_json(missing), error_body("not found"));

  EXPECT_TRUE(client.is_open());
  EXPECT_EQ(client.local_address(), local);  // every exchange above used the one connection
  EXPECT_EQ(server.admin().calls(),
            (std::vector<std::string>{"add web [::1]:8083", "add web [::1]:8083", "patch web [::1]:8083",
                                      "remove web 127.0.0.1:8081", "replace web 0"}));
}

// Boost.JSON writes doubles in exponent form (3.2E1); the API writes plain decimals.
TEST(AdminServer, NumbersArePlainDecimals) {
  AdminUnderTest server;
  auto autoscale = TestClient{server.address()}.get("/api/v1/pools/web/autoscale");
  ASSERT_EQ(autoscale.result(), http::status::ok);
  EXPECT_EQ(autoscale.body(), R"({"current":1,"desired":4,"observed_concurrency":32.0,"mode":"panic"})" "\n");
}

TEST(AdminServer, PipelinedRequestsAreAnsweredInOrder) {
  AdminUnderTest server;
  TestClient client{server.address()};
  ASSERT_FALSE(client.send_raw(request_head("GET", "/api/v1/pools/web") + request_head("GET", "/healthz") +
                               request_head("GET", "/api/v1/pools/nope")));
  auto first = client.read_response();
  auto second = client.read_response();
  auto third = client.read_response();
  EXPECT_EQ(first.result(), http::status::ok);
  EXPECT_EQ(body_json(first).at("name"), "web");
  EXPECT_EQ(body_json(second), json::parse(R"({"status":"ok"})"));
  EXPECT_EQ(third.result(), http::status::not_found);
  EXPECT_TRUE(client.is_open());
}

TEST(AdminServer, HeadHasTheGetLengthAndNoBody) {
  AdminUnderTest server;
  TestClient client{server.address()};
  http::request<http::string_body> head{http::verb::head, "/healthz", 11};
  head.set(http::field::host, "admin.test");
  ASSERT_FALSE(client.write_request(head));
  auto response = client.read_response(kDefaultDeadline, true);
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response["Content-Length"], "16");  // {"status":"ok"}\n
  EXPECT_TRUE(response.body().empty());
  EXPECT_EQ(body_json(client.get("/healthz")), json::parse(R"({"status":"ok"})"));  // no stray bytes
}

TEST(AdminServer, Http10ClosesAfterTheAnswer) {
  AdminUnderTest server;
  TestClient client{server.address()};
  ASSERT_FALSE(client.send_raw("GET /healthz HTTP/1.0\r\n\r\n"));
  const RawRead read = client.read_raw_until_close_or();
  EXPECT_TRUE(read.closed);
  EXPECT_EQ(read.data.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << read.data;
  EXPECT_NE(read.data.find("{\"status\":\"ok\"}"), std::string::npos);
}

TEST(AdminServer, ConnectionCloseIsHonoured) {
  AdminUnderTest server;
  TestClient client{server.address()};
  auto response = client.get("/healthz", {{"Connection", "close"}});
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(client.wait_closed());
}

TEST(AdminServer, AnswersExpectContinue) {
  AdminUnderTest server;
  TestClient client{server.address()};
  const std::string body = R"({"address":"127.0.0.1:9000"})";
  ASSERT_FALSE(client.send_raw(request_head("POST", "/api/v1/pools/web/backends",
                                            "Expect: 100-continue\r\nContent-Length: " +
                                                std::to_string(body.size()) + "\r\n")));
  const RawRead interim = client.read_raw_until("\r\n\r\n");
  ASSERT_FALSE(interim.ec) << interim.ec.message();
  EXPECT_EQ(interim.data, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_FALSE(client.send_raw(body));
  EXPECT_EQ(client.read_response().result(), http::status::created);
}

TEST(AdminServer, BearerTokenGuardsTheApiButNotHealthz) {
  AdminUnderTest server{"tok-123456"};
  TestClient client{server.address()};
  auto refused = client.get("/api/v1/pools");
  EXPECT_EQ(refused.result(), http::status::unauthorized);
  EXPECT_EQ(refused["WWW-Authenticate"], "Bearer");
  EXPECT_EQ(body_json(refused), error_body("missing or invalid bearer token"));
  EXPECT_TRUE(refused.keep_alive());

  EXPECT_EQ(client.get("/api/v1/pools", {{"Authorization", "Bearer tok-123457"}}).result(),
            http::status::unauthorized);
  EXPECT_EQ(client.get("/api/v1/pools", {{"Authorization", "Basic dG9rLTEyMzQ1Ng=="}}).result(),
            http::status::unauthorized);
  EXPECT_EQ(client.request("POST", "/api/v1/pools/web/backends", {}, R"({"address":"h:1"})").result(),
            http::status::unauthorized);
  EXPECT_EQ(client.get("/api/v1/pools", {{"Authorization", "Bearer tok-123456"}}).result(), http::status::ok);
  EXPECT_EQ(client.get("/healthz").result(), http::status::ok);
  EXPECT_TRUE(server.admin().calls().empty());
}

TEST(AdminServer, BodyOverOneMebibyteIs413) {
  AdminUnderTest server;
  // Exactly at the limit: accepted (JSON padded with whitespace).
  std::string at_limit = R"({"address":"127.0.0.1:9000"})";
  at_limit.resize(1024 * 1024, ' ');
  TestClient client{server.address()};
  EXPECT_EQ(client.request("POST", "/api/v1/pools/web/backends", {}, at_limit).result(), http::status::created);

  // One byte more, announced by Content-Length: refused from the head, then closed.
  auto refused = client.request("POST", "/api/v1/pools/web/backends", {}, at_limit + " ");
  EXPECT_EQ(refused.result(), http::status::payload_too_large) << refused.ec.message();
  EXPECT_EQ(body_json(refused), error_body("request body larger than 1048576 bytes"));
  EXPECT_FALSE(refused.keep_alive());
  EXPECT_TRUE(client.wait_closed());

  // Chunked: refused once the chunks pass the limit.
  TestClient chunked{server.address()};
  auto response = chunked.request("PUT", "/api/v1/pools/web/backends", {{"Transfer-Encoding", "chunked"}},
                                  std::string(1024 * 1024 + 1, ' '));
  EXPECT_EQ(response.result(), http::status::payload_too_large) << response.ec.message();
  EXPECT_TRUE(chunked.wait_closed());
  EXPECT_EQ(server.admin().calls(), std::vector<std::string>{"add web 127.0.0.1:9000"});
}

// The token is checked once the header is read, before the body is read or limited: an
// unauthenticated client learns nothing from the size of what it sends.
TEST(AdminServer, UnauthenticatedLargeBodyIs401Not413) {
  AdminUnderTest server{"tok-123456"};
  const std::string huge_length = "Content-Length: " + std::to_string(100 * 1024 * 1024) + "\r\n";
  TestClient announced{server.address()};
  ASSERT_FALSE(announced.send_raw(request_head("POST", "/api/v1/pools/web/backends", huge_length) + "{\"addr"));
  auto refused = announced.read_response();
  EXPECT_EQ(refused.result(), http::status::unauthorized) << refused.ec.message();
  EXPECT_EQ(refused["WWW-Authenticate"], "Bearer");
  EXPECT_EQ(body_json(refused), error_body("missing or invalid bearer token"));
  EXPECT_FALSE(refused.keep_alive());  // the body was not read, so the connection cannot go on
  EXPECT_TRUE(announced.wait_closed());

  TestClient chunked{server.address()};
  auto chunked_refused = chunked.request("PUT", "/api/v1/pools/web/backends", {{"Transfer-Encoding", "chunked"}},
                                         std::string(1024 * 1024 + 1, ' '));
  EXPECT_EQ(chunked_refused.result(), http::status::unauthorized) << chunked_refused.ec.message();

  // No "100 Continue" invites the body of a client that will be refused.
  TestClient expecting{server.address()};
  ASSERT_FALSE(expecting.send_raw(request_head("POST", "/api/v1/pools/web/backends",
                                               "Expect: 100-continue\r\nContent-Length: 10\r\n")));
  EXPECT_EQ(expecting.read_response().result(), http::status::unauthorized);

  // With the token, the same announced size is what it is: too large.
  TestClient authorized{server.address()};
  ASSERT_FALSE(authorized.send_raw(request_head("POST", "/api/v1/pools/web/backends",
                                                "Authorization: Bearer tok-123456\r\n" + huge_length)));
  auto too_large = authorized.read_response();
  EXPECT_EQ(too_large.result(), http::status::payload_too_large) << too_large.ec.message();
  EXPECT_EQ(body_json(too_large), error_body("request body larger than 1048576 bytes"));
  EXPECT_TRUE(server.admin().calls().empty());
}

TEST(AdminServer, HeaderOverSixteenKibibytesIs431) {
  AdminUnderTest server;
  TestClient client{server.address()};
  auto response = client.get("/healthz", {{"X-Padding", std::string(16 * 1024, 'a')}});
  EXPECT_EQ(response.result(), http::status::request_header_fields_too_large) << response.ec.message();
  EXPECT_EQ(body_json(response), error_body("request header larger than 16384 bytes"));
  EXPECT_TRUE(client.wait_closed());
}

TEST(AdminServer, MalformedRequestIs400AndCloses) {
  AdminUnderTest server;
  for (const std::string raw : {"this is not http\r\n\r\n", "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
                                "GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    TestClient client{server.address()};
    ASSERT_FALSE(client.send_raw(raw));
    const RawRead read = client.read_raw_until_close_or();
    EXPECT_TRUE(read.closed) << raw;
    EXPECT_EQ(read.data.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << read.data;
    EXPECT_NE(read.data.find(R"({"error":"malformed HTTP request"})"), std::string::npos) << read.data;
  }
}

TEST(AdminServer, ThrowingControlPlaneIs500AndTheConnectionLives) {
  AdminUnderTest server;
  TestClient client{server.address()};
  auto response = client.get("/api/v1/pools/explode");
  EXPECT_EQ(response.result(), http::status::internal_server_error);
  EXPECT_EQ(body_json(response), error_body("internal error"));
  EXPECT_EQ(client.get("/healthz").result(), http::status::ok);
}

TEST(AdminServer, IdleConnectionIsClosed) {
  AdminUnderTest server{"", AdminLimits{.idle_timeout = std::chrono::milliseconds(100)}};
  TestClient client{server.address()};
  EXPECT_EQ(client.get("/healthz").result(), http::status::ok);
  EXPECT_TRUE(client.wait_closed());
}

TEST(AdminServer, SlowRequestIsCut) {
  AdminUnderTest server{"", AdminLimits{.read_timeout = std::chrono::milliseconds(100)}};
  TestClient client{server.address()};
  ASSERT_FALSE(client.send_raw("GET /healthz HTTP/1.1\r\nHost: a\r\n"));  // the head never ends
  EXPECT_TRUE(client.wait_closed());
}

TEST(AdminServer, PastTheConnectionCapNewcomersWaitForASlot) {
  AdminUnderTest server{"", AdminLimits{.max_connections = 2}};
  TestClient first{server.address()};
  TestClient second{server.address()};
  ASSERT_EQ(first.get("/healthz").result(), http::status::ok);  // both accepted and counted
  ASSERT_EQ(second.get("/healthz").result(), http::status::ok);

  TestClient third{server.address()};  // completes in the listen backlog
  ASSERT_FALSE(third.send_raw(request_head("GET", "/healthz")));
  // Not answered while both slots are taken (a bounded wait for a non-event).
  EXPECT_EQ(third.read_raw_until("\r\n\r\n", std::chrono::milliseconds(200)).ec, boost::beast::error::timeout);

  first.close();
  auto response = third.read_response();
  EXPECT_EQ(response.result(), http::status::ok) << response.ec.message();
}

TEST(AdminServer, StopClosesEveryConnectionAndTheListener) {
  AdminUnderTest server;
  TestClient idle{server.address()};
  ASSERT_EQ(idle.get("/healthz").result(), http::status::ok);
  TestClient mid_request{server.address()};
  ASSERT_EQ(mid_request.get("/healthz").result(), http::status::ok);
  ASSERT_FALSE(mid_request.send_raw("POST /api/v1/pools/web/backends HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"));

  server.stop();
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(mid_request.wait_closed());
  TestClient late{server.address()};
  EXPECT_TRUE(late.connect_error()) << "still accepting after stop()";
  EXPECT_TRUE(server.admin().calls().empty());
}

// As keel shuts down: the control loop stops with connections open, then the server and
// the io_context are destroyed in turn, with coroutine frames still queued in it.
TEST(AdminServer, OutlivedByItsSuspendedConnections) {
  FakePoolAdmin admin;
  TestClient idle;
  TestClient mid_request;
  {
    asio::io_context io{1};
    auto server = std::make_unique<AdminServer>(io, asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(), 0},
                                                "tok", admin);
    server->start();
    auto guard = asio::make_work_guard(io);
    std::thread thread([&] { io.run(); });
    const std::string address = "127.0.0.1:" + std::to_string(server->endpoint().port());
    ASSERT_FALSE(idle.connect(address));
    ASSERT_FALSE(mid_request.connect(address));
    EXPECT_EQ(idle.get("/healthz").result(), http::status::ok);
    EXPECT_EQ(mid_request.get("/healthz").result(), http::status::ok);
    ASSERT_FALSE(mid_request.send_raw("PUT /api/v1/pools/web/backends HTTP/1.1\r\nContent-Length: 10\r\n\r\n["));
    io.stop();
    thread.join();
    server.reset();  // closes the sockets; the frames wait in `io`
  }
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(mid_request.wait_closed());
  EXPECT_TRUE(admin.calls().empty());
}

}  // namespace
}  // namespace keel::test
