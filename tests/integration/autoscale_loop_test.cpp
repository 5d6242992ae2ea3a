// The README's "Scaling" walk-through as a test: build/keel and the example
// loop conf/examples/autoscaler.py as child processes; a load step makes
// desired rise, the loop adds keel-echo backends, the load stops and the pool
// shrinks back to its minimum.
#include "tests/support/keel_process.hpp"
#include "tests/support/load_loop.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>

namespace keel::test {
namespace {

namespace json = boost::json;

constexpr const char* kPython = "/usr/bin/python3";

class TempFile {
 public:
  explicit TempFile(const std::string& suffix)
      : path_(::testing::TempDir() + "keel-loop-" + std::to_string(::getpid()) + suffix) {}
  ~TempFile() { std::remove(path_.c_str()); }
  void write(const std::string& text) const { std::ofstream(path_) << text; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string config(const std::string& webhook) {
  // target 2 against keel-echo --delay 50 and 8 looping connections (about 8
  // in flight): panic at once, desired 4 (the max); short windows keep the
  // test short.
  return "workers: 2\n"
         "listeners:\n  - address: 127.0.0.1:0\n"
         "admin:\n  address: 127.0.0.1:0\n"
         "timeouts:\n  drain: 5s\n"
         "pools:\n  - name: web\n    balance: least_conn\n    backends: []\n"
         "    autoscale:\n      target_concurrency: 2\n      min_backends: 1\n      max_backends: 4\n"
         "      stable_window: 6s\n      panic_window: 2s\n" +
         (webhook.empty() ? std::string() : "      webhook: http://" + webhook + "/scale\n");
}

struct PoolView {
  std::set<std::string> active;
  std::size_t listed = 0;
};

PoolView pool_of(TestClient& admin) {
  PoolView view;
  auto response = admin.get("/api/v1/pools/web", {}, 2s);
  if (response.result() != http::status::ok) {
    admin.reconnect();
    return view;
  }
  const json::value pool = json::parse(response.body());
  for (const auto& backend : pool.as_object().at("backends").as_array()) {
    ++view.listed;
    if (backend.as_object().at("state").as_string() == "active")
      view.active.insert(std::string(backend.as_object().at("address").as_string()));
  }
  return view;
}

std::string address_after(const std::optional<std::string>& line, std::string_view prefix) {
  return line ? line->substr(prefix.size()) : std::string();
}

TEST(AutoscaleLoop, APoolGrowsUnderLoadAndShrinksBackToMin) {
  TempFile config_file(".yaml");
  // keel first without the webhook (the loop needs the admin address, keel the
  // loop's): the webhook arrives with a reload, which is tested on the way.
  config_file.write(config(""));
  ChildProcess keel(binary_path("keel"), {"--config", config_file.path()});
  const auto listener = keel.wait_for_line("listening on ");
  ASSERT_TRUE(listener) << keel.output(ChildProcess::Output::err);
  const std::string proxy_address = *listening_address(*listener);
  const std::string admin_address = address_after(keel.wait_for_line("admin listening on "), "admin listening on ");
  ASSERT_FALSE(admin_address.empty()) << keel.output(ChildProcess::Output::err);

  ChildProcess loop(kPython, {std::string(KEEL_SOURCE_DIR) + "/conf/examples/autoscaler.py", "--listen",
                              "127.0.0.1:0", "--admin", admin_address, "--pool", "web", "--echo",
                              binary_path("keel-echo"), "--echo-arg=--delay", "--echo-arg=50", "--poll", "30",
                              "--max-instances", "6"});
  const std::string webhook = address_after(loop.wait_for_line("listening on "), "listening on ");
  ASSERT_FALSE(webhook.empty()) << loop.output(ChildProcess::Output::err);
  config_file.write(config(webhook));
  ASSERT_TRUE(keel.signal(SIGHUP));
  ASSERT_TRUE(wait_until([&] { return keel.output(ChildProcess::Output::err).find("applied") != std::string::npos; },
                         5s))
      << keel.output(ChildProcess::Output::err);

  TestClient admin{admin_address};
  // min 1 on an empty pool: desired 1 goes out at the first decision (the
  // webhook, not the 30 s poll) and the loop adds one backend.
  ASSERT_TRUE(wait_until([&] { return pool_of(admin).active.size() == 1; }, 10s))
      << loop.output(ChildProcess::Output::err) << keel.output(ChildProcess::Output::err);

  std::set<std::string> grown;
  {
    LoadLoop load(proxy_address, 8);
    ASSERT_TRUE(wait_until(
        [&] {
          grown = pool_of(admin).active;
          return grown.size() >= 3;
        },
        20s))
        << "pool stayed at " << grown.size() << "\n"
        << loop.output(ChildProcess::Output::err) << keel.output(ChildProcess::Output::err);
    load.stop();
    EXPECT_EQ(load.failures(), 0);
  }

  // No load: panic ends a stable window after the burst, the stable average
  // decays, and the loop removes (drains, then stops) what it added.
  PoolView shrunk;
  ASSERT_TRUE(wait_until(
      [&] {
        shrunk = pool_of(admin);
        return shrunk.active.size() == 1 && shrunk.listed == 1;
      },
      30s))
      << "active " << shrunk.active.size() << ", listed " << shrunk.listed << "\n"
      << loop.output(ChildProcess::Output::err) << keel.output(ChildProcess::Output::err);
  EXPECT_TRUE(wait_until(
      [&] { return loop.output(ChildProcess::Output::err).find("stopping ") != std::string::npos; }, 5s))
      << loop.output(ChildProcess::Output::err);
  // Every instance removed from the pool has been stopped: nothing listens there.
  for (const auto& address : grown) {
    if (shrunk.active.count(address)) continue;
    EXPECT_TRUE(wait_until([&] { return TestClient{address, 500ms}.connect_error().failed(); }, 5s)) << address;
  }

  // SIGTERM: the loop takes its last backend out of the pool and stops it.
  const std::string last = *shrunk.active.begin();
  ASSERT_TRUE(loop.signal(SIGTERM));
  EXPECT_EQ(loop.wait_exit(10s), 0) << loop.output(ChildProcess::Output::err);
  EXPECT_TRUE(wait_until([&] { return pool_of(admin).listed == 0; }, 10s));
  EXPECT_TRUE((TestClient{last, 500ms}.connect_error().failed())) << last;
}

}  // namespace
}  // namespace keel::test
