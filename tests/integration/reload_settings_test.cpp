// Settings a reload cannot change (workers, admin, access_log): the running config keeps
// the values in use, and every reload that asks for a change warns.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace keel::test {
namespace {

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t found = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++found;
  return found;
}

TEST(ReloadSettings, AdminChangeWarnsOnEveryReloadAndTheRunningConfigKeepsItsAdmin) {
  TestBackend a{"a"};
  const std::string path = ::testing::TempDir() + "keel-reload-admin-" + std::to_string(::getpid()) + ".yaml";
  const std::string running = single_pool_config({a.address()}, "admin:\n  address: 127.0.0.1:0\n");
  KeelUnderTest keel{running, path};
  const std::string admin_address = keel.admin_address();
  // Port 9 is never bound: the admin server keeps its address until a restart.
  std::ofstream(path) << single_pool_config({a.address()}, "admin:\n  address: 127.0.0.1:9\n");

  testing::internal::CaptureStderr();
  const auto first = keel.proxy().reload_and_wait();
  const auto second = keel.proxy().reload_and_wait();
  const std::string log = testing::internal::GetCapturedStderr();
  std::remove(path.c_str());
  EXPECT_TRUE(first.empty());
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(count(log, "reload: 'admin' changes only on restart"), 2u) << log;
  ASSERT_TRUE(keel.control().config().admin);
  EXPECT_EQ(keel.control().config().admin->address.text, "127.0.0.1:0");  // what the admin server uses
  EXPECT_EQ(keel.admin_address(), admin_address);
}

TEST(ReloadSettings, WorkersAndAccessLogChangesWarnOnEveryReload) {
  TestBackend a{"a"};
  const std::string path = ::testing::TempDir() + "keel-reload-workers-" + std::to_string(::getpid()) + ".yaml";
  KeelUnderTest keel{make_config({PoolSpec{.backends = {a.address()}}}, {}, 1), path};
  std::ofstream(path) << make_config({PoolSpec{.backends = {a.address()}}}, "access_log: { path: stdout }\n", 2);

  testing::internal::CaptureStderr();
  const auto first = keel.proxy().reload_and_wait();
  const auto second = keel.proxy().reload_and_wait();
  const std::string log = testing::internal::GetCapturedStderr();
  std::remove(path.c_str());
  EXPECT_TRUE(first.empty());
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(count(log, "reload: 'workers' changes only on restart; keeping 1"), 2u) << log;
  EXPECT_EQ(count(log, "reload: 'access_log' changes only on restart"), 2u) << log;
  EXPECT_EQ(keel.control().config().workers, 1u);
  EXPECT_FALSE(keel.control().config().access_log);
}

}  // namespace
}  // namespace keel::test
