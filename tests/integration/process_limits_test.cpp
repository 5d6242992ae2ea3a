// build/keel as a child process against the limits of the machine: a listener
// address another process holds, and a file-descriptor limit too low for
// limits.max_connections.
#include "tests/support/keel_process.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
using tcp = boost::asio::ip::tcp;

std::string config_on(const std::string& listener, const std::string& backend, const std::string& extra = {}) {
  return "workers: 2\nlisteners:\n  - address: " + listener + "\n" + extra +
         "pools:\n  - name: web\n    backends:\n      - { address: \"" + backend + "\" }\n";
}

struct StartedKeel {
  explicit StartedKeel(const std::string& config_path, bool with_admin = false, std::vector<std::string> prefix = {}) {
    std::string program = binary_path("keel");
    std::vector<std::string> arguments{"--config", config_path};
    if (!prefix.empty()) {  // through a shell that sets limits first
      arguments.insert(arguments.begin(), program);
      arguments.insert(arguments.begin(), prefix.begin() + 1, prefix.end());
      program = prefix.front();
    }
    process.emplace(program, arguments);
    if (const auto line = process->wait_for_line("listening on ")) address = *listening_address(*line);
    if (const auto line = with_admin ? process->wait_for_line("admin listening on ") : std::nullopt)
      admin = line->substr(std::string("admin listening on ").size());
  }
  std::string log() const { return process->output(ChildProcess::Output::err); }

  std::optional<ChildProcess> process;
  std::string address;  // empty if it never listened
  std::string admin;
};

std::uint16_t port_of(const std::string& address) {
  return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

TEST(ListenerAddress, HeldByAnotherKeelIsAnErrorAtStart) {
  TestBackend backend;
  const TempConfig first_config(config_on("127.0.0.1:0", backend.address()));
  StartedKeel first(first_config.path());
  ASSERT_FALSE(first.address.empty()) << first.log();

  // SO_REUSEPORT would let a second keel join the first's socket and take a share
  // of its traffic without a word.
  const TempConfig second_config(config_on(first.address, backend.address()));
  ChildProcess second(binary_path("keel"), {"--config", second_config.path()});
  EXPECT_EQ(second.wait_exit(10s), 1);
  const std::string errors = second.output(ChildProcess::Output::err);
  EXPECT_NE(errors.find("cannot listen on " + first.address + ": address in use"), std::string::npos) << errors;
  EXPECT_EQ(TestClient{first.address}.get("/").result(), http::status::ok);
}

TEST(ListenerAddress, HeldByAnotherProgramIsAnErrorAtStart) {
  TestBackend backend, holder;
  const TempConfig config(config_on(holder.address(), backend.address()));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  EXPECT_EQ(keel.wait_exit(10s), 1);
  const std::string errors = keel.output(ChildProcess::Output::err);
  EXPECT_NE(errors.find("address in use"), std::string::npos) << errors;
}

TEST(ListenerAddress, ReusePortSharesItWithAnotherKeelOnPurpose) {
  TestBackend backend;
  const TempConfig first_config(config_on("127.0.0.1:0", backend.address()));
  StartedKeel first(first_config.path());
  ASSERT_FALSE(first.address.empty()) << first.log();
  const std::string shared = "127.0.0.1:" + std::to_string(port_of(first.address));
  const TempConfig second_config("workers: 1\nlisteners:\n  - { address: " + shared +
                                 ", reuse_port: true }\npools:\n  - name: web\n    backends:\n"
                                 "      - { address: \"" + backend.address() + "\" }\n");
  StartedKeel second(second_config.path());
  EXPECT_EQ(second.address, shared) << second.log();
  EXPECT_TRUE(second.process->is_running()) << second.log();
}

// Raises this test process's own descriptor limit: it opens hundreds of clients.
void raise_own_descriptor_limit() {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_cur, 1024u);
}

std::optional<long> gauge(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stol(metrics.substr(at + name.size() + 2));
}

// With `ulimit -n 256` and the default max_connections (10,000), keel used to
// accept clients until accept() failed with EMFILE: new clients, and the admin
// API with them, then hung while the log repeated "accept failed". Now it takes
// what the limit has room for, refuses the rest at once, and the admin API keeps
// its reserved descriptors.
TEST(DescriptorLimit, LowersTheConnectionLimitAndKeepsTheAdminApiReachable) {
  raise_own_descriptor_limit();
  TestBackend backend;
  const TempConfig config(config_on("127.0.0.1:0", backend.address(), "admin:\n  address: 127.0.0.1:0\n"));
  StartedKeel keel(config.path(), true, {"/bin/sh", "-c", "ulimit -n 256 && exec \"$0\" \"$@\""});
  ASSERT_FALSE(keel.address.empty()) << keel.log();
  ASSERT_FALSE(keel.admin.empty()) << keel.log();
  EXPECT_NE(keel.log().find("does not fit the file descriptor limit 256"), std::string::npos) << keel.log();

  TestClient admin{keel.admin};
  const auto before = admin.get("/metrics", {}, 5s);
  ASSERT_TRUE(before.ok()) << before.ec.message();
  const auto capacity = gauge(before.body(), "keel_max_client_connections");
  ASSERT_TRUE(capacity) << before.body();
  EXPECT_GT(*capacity, 0);
  EXPECT_LT(*capacity, 128);  // two descriptors per client, and a reserve, out of 256

  boost::asio::io_context io;
  const tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), port_of(keel.address));
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 300; ++i) {  // more clients than keel has descriptors
    idle.emplace_back(io);
    boost::system::error_code ec;
    idle.back().connect(endpoint, ec);
    ASSERT_FALSE(ec) << "client " << i << ": " << ec.message();
  }
  std::string metrics;
  ASSERT_TRUE(wait_until(
      [&] {
        TestClient scrape{keel.admin};
        const auto response = scrape.get("/metrics", {}, 5s);
        metrics = response.body();
        return response.ok() && gauge(metrics, "keel_client_connections") == capacity;
      },
      15s))
      << "admin answer: " << metrics << "\n" << keel.log();

  TestClient refused{keel.address};
  const auto response = refused.get("/", {}, 5s);
  EXPECT_FALSE(response.ok());
  EXPECT_NE(response.ec, boost::beast::error::timeout) << "a client past the limit hangs instead of being refused";
  EXPECT_EQ(keel.log().find("accept failed"), std::string::npos) << keel.log();

  idle.clear();
  EXPECT_TRUE(wait_until([&] { return TestClient{keel.address}.get("/", {}, 2s).result() == http::status::ok; }, 15s))
      << keel.log();
  keel.process->signal(SIGTERM);
  EXPECT_EQ(keel.process->wait_exit(10s), 0) << keel.log();
}

}  // namespace
}  // namespace keel::test
