// GET /metrics end to end: requests counted by pool, backend and code, connect
// failures, retries, the duration histogram, and promtool accepting the page.
#include "proxy/server.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/dead_port.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <cstdio>
#include <iterator>
#include <vector>
#include <set>
#include <regex>
#include <functional>
#include <fstream>
#include <optional>
#include <string>

namespace keel::test {
namespace {

const std::string kAdmin = "admin:\n  address: 127.0.0.1:0\n";

std::string scrape(KeelUnderTest& keel) {
  TestClient admin{keel.admin_address()};
  auto response = admin.get("/metrics");
  EXPECT_EQ(response.result(), http::status::ok) << response.ec.message();
  return response.body();
}

// The value of the sample whose name and labels are exactly `series`; nullopt if absent.
std::optional<double> value(const std::string& text, const std::string& series) {
  const std::string needle = series + " ";
  std::size_t pos = 0;
  while ((pos = text.find(needle, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const auto end = text.find('\n', pos);
      return std::stod(text.substr(pos + needle.size(), end - pos - needle.size()));
    }
    pos += needle.size();
  }
  return std::nullopt;
}

// Scrapes until `series` has `expected` (requests are counted just after their
// response is written, so a scrape right after the response may be early).
bool scrape_until(KeelUnderTest& keel, const std::string& series, double expected, std::string& text) {
  return wait_until(
      [&] {
        text = scrape(keel);
        return value(text, series) == expected;
      },
      std::chrono::seconds(5));
}

std::string labels(const std::string& pool, const std::string& backend) {
  return "{pool=\"" + pool + "\",backend=\"" + backend + "\"}";
}

TEST(Metrics, CountsRequestsByBackendAndCode) {
  TestBackend ok{"ok"};
  TestBackend missing{"missing"};
  missing.set_reply(Reply::text("nope", http::status::not_found));
  KeelUnderTest keel{make_config({PoolSpec{.name = "web", .backends = {ok.address()}},
                                  PoolSpec{.name = "api", .backends = {missing.address()}}},
                                 kAdmin + "routes:\n  - { path_prefix: /api, pool: api }\n  - { path_prefix: /, pool: web }\n")};
  TestClient client{keel.address()};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.get("/a").result(), http::status::ok);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(client.get("/api/x").result(), http::status::not_found);

  std::string text;
  ASSERT_TRUE(scrape_until(keel, "keel_request_duration_seconds_count{pool=\"api\"}", 2, text)) << text;
  ASSERT_TRUE(scrape_until(keel, "keel_request_duration_seconds_count{pool=\"web\"}", 3, text)) << text;
  EXPECT_EQ(value(text, "keel_requests_total{pool=\"web\",backend=\"" + ok.address() + "\",code=\"200\"}"), 3);
  EXPECT_EQ(value(text, "keel_requests_total{pool=\"api\",backend=\"" + missing.address() + "\",code=\"404\"}"),
            2);
  EXPECT_FALSE(value(text, "keel_requests_total{pool=\"web\",backend=\"" + ok.address() + "\",code=\"404\"}"));
  EXPECT_EQ(value(text, "keel_request_duration_seconds_bucket{pool=\"web\",le=\"+Inf\"}"), 3);
  EXPECT_GT(*value(text, "keel_request_duration_seconds_sum{pool=\"web\"}"), 0);
  EXPECT_EQ(value(text, "keel_backend_active_requests" + labels("web", ok.address())), 0);
  EXPECT_EQ(value(text, "keel_backend_healthy" + labels("web", ok.address())), 1);
  EXPECT_EQ(value(text, "keel_upstream_connect_failures_total" + labels("web", ok.address())), 0);
  EXPECT_GT(*value(text, "keel_request_bytes_total" + labels("web", ok.address())), 3 * 20);
  EXPECT_GT(*value(text, "keel_response_bytes_total" + labels("web", ok.address())), 3 * 20);
  EXPECT_EQ(value(text, "keel_client_connections"), 1);
  EXPECT_EQ(value(text, "keel_accepted_connections_total"), 1);
  // max_connections (10,000 by default), or less where the descriptor limit has no room for it.
  EXPECT_EQ(value(text, "keel_max_client_connections"),
            static_cast<double>(std::min<std::size_t>(10000, keel.proxy().server().client_capacity())));
  EXPECT_EQ(value(text, "keel_pool_backends{pool=\"web\"}"), 1);
  EXPECT_TRUE(value(text, "keel_worker_event_loop_lag_seconds{worker=\"0\"}"));
  EXPECT_GT(*value(text, "process_resident_memory_bytes"), 0);
  EXPECT_GT(*value(text, "process_open_fds"), 0);
  EXPECT_GT(*value(text, "process_max_fds"), 0);
  EXPECT_GT(*value(text, "process_start_time_seconds"), 1.6e9);
  EXPECT_TRUE(value(text, "process_cpu_seconds_total"));
  EXPECT_NE(text.find("# TYPE keel_request_duration_seconds histogram\n"), std::string::npos);
}

TEST(Metrics, ConnectFailuresRetriesAndUnservedRequests) {
  TestBackend live{"live"};
  const DeadPort dead_port;
  const std::string& dead = dead_port.address();
  KeelUnderTest keel{make_config({PoolSpec{.name = "web", .backends = {dead, live.address()}, .retries = 1},
                                  PoolSpec{.name = "gone", .backends = {dead}, .retries = 0}},
                                 kAdmin + "routes:\n  - { path_prefix: /gone, pool: gone }\n  - { path_prefix: /, pool: web }\n")};
  TestClient client{keel.address()};
  // Round-robin over two backends: every second request first tries the dead one.
  for (int i = 0; i < 4; ++i) ASSERT_EQ(client.get("/").result(), http::status::ok);
  ASSERT_EQ(client.get("/gone").result(), http::status::bad_gateway);

  std::string text;
  ASSERT_TRUE(scrape_until(keel, "keel_request_duration_seconds_count{pool=\"gone\"}", 1, text)) << text;
  ASSERT_TRUE(scrape_until(keel, "keel_request_duration_seconds_count{pool=\"web\"}", 4, text)) << text;
  EXPECT_EQ(value(text, "keel_requests_total{pool=\"web\",backend=\"" + live.address() + "\",code=\"200\"}"), 4);
  EXPECT_EQ(value(text, "keel_upstream_connect_failures_total" + labels("web", dead)), 2);
  EXPECT_EQ(value(text, "keel_upstream_connect_failures_total" + labels("gone", dead)), 1);
  EXPECT_EQ(value(text, "keel_upstream_retries_total{pool=\"web\"}"), 2);
  EXPECT_EQ(value(text, "keel_upstream_retries_total{pool=\"gone\"}"), 0);
  // Answered by keel itself: no backend label.
  EXPECT_EQ(value(text, "keel_requests_total{pool=\"gone\",backend=\"\",code=\"502\"}"), 1);
}

TEST(Metrics, RequestsRefusedBeforeRoutingHaveNoPool) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, kAdmin)};
  TestClient client{keel.address()};
  client.send_raw("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  std::string text;
  ASSERT_TRUE(scrape_until(keel, "keel_requests_total{pool=\"\",backend=\"\",code=\"400\"}", 1, text)) << text;
  EXPECT_EQ(value(text, "keel_request_duration_seconds_count{pool=\"web\"}"), 0);
}

TEST(Metrics, NoBackendIs503WithoutBackendLabel) {
  KeelUnderTest keel{make_config({PoolSpec{.name = "empty", .backends = {}}}, kAdmin)};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/").result(), http::status::service_unavailable);
  std::string text;
  EXPECT_TRUE(scrape_until(keel, "keel_requests_total{pool=\"empty\",backend=\"\",code=\"503\"}", 1, text)) << text;
}

TEST(Metrics, ServedAsPrometheusTextWithoutTheToken) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, kAdmin)};
  TestClient admin{keel.admin_address()};
  auto response = admin.get("/metrics");
  ASSERT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
}

// The contract: `promtool check metrics` accepts the page. CI installs promtool
// (scripts/test); without it this fails rather than pass unchecked.
TEST(Metrics, PromtoolAcceptsTheScrape) {
  ASSERT_EQ(access("/usr/bin/promtool", X_OK), 0)
      << "promtool not found: install the Debian package 'prometheus' (scripts/install-deps prometheus)";
  TestBackend ok{"ok"};
  TestBackend bad{"bad"};
  const DeadPort dead;
  bad.set_reply(Reply::text("oops", http::status::internal_server_error));
  KeelUnderTest keel{make_config({PoolSpec{.name = "web", .backends = {ok.address(), bad.address(), dead.address()}},
                                  PoolSpec{.name = "empty-pool.v2", .backends = {}}},
                                 // an autoscaled pool too (its gauges), continuing the pools list
                                 "  - name: scaled\n    backends: []\n"
                                 "    autoscale: { min_backends: 0, max_backends: 7 }\n" +
                                     kAdmin + "routes:\n  - { path_prefix: /w, pool: empty-pool.v2 }\n"
                                              "  - { path_prefix: /, pool: web }\n",
                                 2)};
  TestClient client{keel.address()};
  for (int i = 0; i < 6; ++i) client.get("/");
  client.get("/w");
  std::string text;
  ASSERT_TRUE(scrape_until(keel, "keel_requests_total{pool=\"empty-pool.v2\",backend=\"\",code=\"503\"}", 1, text))
      << text;
  EXPECT_NE(text.find("keel_pool_desired_backends{pool=\"scaled\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("keel_pool_max_backends{pool=\"scaled\"} 7\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("keel_pool_desired_backends{pool=\"web\"}"), std::string::npos) << "web is not autoscaled";

  const std::string path = ::testing::TempDir() + "keel_metrics_" + std::to_string(getpid()) + ".txt";
  std::ofstream(path) << text;
  ChildProcess promtool("/bin/sh", {"-c", "exec /usr/bin/promtool check metrics < '" + path + "'"});
  const auto status = promtool.wait_exit(std::chrono::seconds(20));
  std::remove(path.c_str());
  ASSERT_TRUE(status.has_value()) << "promtool did not finish";
  EXPECT_EQ(*status, 0) << promtool.output(ChildProcess::Output::err) << promtool.output() << "\n" << text;
  // promtool also prints lint problems (exit 0 for some of them): none wanted.
  EXPECT_EQ(promtool.output(ChildProcess::Output::err) + promtool.output(), "");
}

// A real scrape with every metric family keel can expose: an autoscaled pool, a
// dead backend (connect failures) and a 5xx included.
std::string scrape_with_every_family() {
  TestBackend ok{"ok"};
  TestBackend bad{"bad"};
  const DeadPort dead;
  bad.set_reply(Reply::text("oops", http::status::internal_server_error));
  KeelUnderTest keel{make_config({PoolSpec{.name = "web", .backends = {ok.address(), bad.address(), dead.address()}}},
                                 "  - name: scaled\n    backends: []\n    autoscale: { max_backends: 3 }\n" + kAdmin)};
  TestClient client{keel.address()};
  for (int i = 0; i < 6; ++i) client.get("/");
  std::string text;
  const std::string failures = "keel_upstream_connect_failures_total{pool=\"web\",backend=\"" + dead.address() + "\"}";
  EXPECT_TRUE(wait_until(
      [&] {
        text = scrape(keel);
        return value(text, failures).value_or(0) >= 1;
      },
      std::chrono::seconds(5)))
      << text;
  return text;
}

// The keel_* and process_* metric names in PromQL `expressions` (a histogram's
// _bucket, _sum and _count series named by their family).
std::set<std::string> metric_names(const std::vector<std::string>& expressions) {
  const std::regex metric_name(R"(\b((?:keel|process)_[a-z0-9_]+))");
  const std::regex histogram_series("_(bucket|sum|count)$");
  std::set<std::string> names;
  for (const auto& expression : expressions)
    for (std::sregex_iterator it(expression.begin(), expression.end(), metric_name), end; it != end; ++it)
      names.insert(std::regex_replace((*it)[1].str(), histogram_series, ""));
  return names;
}

// The names that are no metric family of `scrape`.
std::vector<std::string> missing_from(const std::string& scrape, const std::set<std::string>& names) {
  std::vector<std::string> missing;
  for (const auto& name : names)
    if (scrape.find("# TYPE " + name + " ") == std::string::npos) missing.push_back(name);
  return missing;
}

// The Grafana dashboard shipped in conf/prometheus only queries metrics keel
// exposes: every keel_*/process_* name in its expressions is a family of a real scrape.
TEST(Metrics, DashboardQueriesOnlyExposedMetrics) {
  std::ifstream file(std::string(KEEL_SOURCE_DIR) + "/conf/prometheus/keel-dashboard.json");
  ASSERT_TRUE(file) << "conf/prometheus/keel-dashboard.json missing";
  const std::string json_text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  const auto dashboard = boost::json::parse(json_text, ec);
  ASSERT_FALSE(ec) << "the dashboard is not valid JSON: " << ec.message();

  std::vector<std::string> expressions;
  const std::function<void(const boost::json::value&)> collect = [&](const boost::json::value& value) {
    if (const auto* object = value.if_object()) {
      for (const auto& [key, item] : *object) {
        if (key == "expr" && item.is_string()) expressions.emplace_back(item.as_string());
        collect(item);
      }
    } else if (const auto* array = value.if_array()) {
      for (const auto& item : *array) collect(item);
    }
  };
  collect(dashboard);
  ASSERT_GE(expressions.size(), 10u);

  const std::string text = scrape_with_every_family();
  for (const auto& name : missing_from(text, metric_names(expressions)))
    ADD_FAILURE() << "the dashboard queries " << name << ", which keel does not expose";
}

// Likewise the alert rules in conf/prometheus/keel-alerts.yml: an alert on a
// metric keel does not expose would never fire. promtool only checks the syntax
// (and its rule tests feed made-up series), so this ties them to a real scrape.
TEST(Metrics, AlertRulesUseOnlyExposedMetrics) {
  const std::string path = std::string(KEEL_SOURCE_DIR) + "/conf/prometheus/keel-alerts.yml";
  YAML::Node rules_file;
  try {
    rules_file = YAML::LoadFile(path);
  } catch (const YAML::Exception& error) {
    FAIL() << path << ": " << error.what();
  }
  std::vector<std::string> expressions;
  for (const auto& group : rules_file["groups"])
    for (const auto& rule : group["rules"])
      if (rule["expr"]) expressions.push_back(rule["expr"].as<std::string>());
  ASSERT_GE(expressions.size(), 10u);
  const auto names = metric_names(expressions);
  ASSERT_GE(names.size(), 10u);

  const std::string text = scrape_with_every_family();
  for (const auto& name : missing_from(text, names))
    ADD_FAILURE() << "an alert rule uses " << name << ", which keel does not expose";
  // The check itself can fail: a name keel does not expose is found missing.
  EXPECT_EQ(missing_from(text, metric_names({"rate(keel_no_such_metric_total[5m]) > 0"})),
            std::vector<std::string>{"keel_no_such_metric_total"});
}

}  // namespace
}  // namespace keel::test
