// One backend, one entry: the admin API, the state file and reloads know a backend by
// its endpoint, whatever spelling of its address is used, and keep showing the
// address as it was written.
#include "proxy/admin/admin_routes.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace keel::test {
namespace {

namespace json = boost::json;

const std::string kAdmin = "admin:\n  address: 127.0.0.1:0\n";

json::array backends_of(TestClient& admin) {
  auto response = admin.get("/api/v1/pools/web");
  if (response.result() != http::status::ok) return {};
  return json::parse(response.body()).as_object().at("backends").as_array();
}

std::string port_of(const std::string& address) { return address.substr(address.rfind(':') + 1); }

// The other ways to write 127.0.0.1:PORT.
std::vector<std::string> spellings(const std::string& port) {
  return {"127.0.0.1:0" + port, "localhost:" + port, "[::ffff:127.0.0.1]:" + port};
}

std::string post_body(const std::string& address) { return R"({"address":")" + address + R"("})"; }

TEST(BackendIdentity, AddingAnotherSpellingOfAnExistingBackendIs409) {
  TestBackend a{"a"};
  KeelUnderTest keel{single_pool_config({a.address()}, kAdmin)};
  TestClient admin{keel.admin_address()};
  for (const auto& spelling : spellings(port_of(a.address()))) {
    auto response = admin.request("POST", "/api/v1/pools/web/backends", {}, post_body(spelling));
    EXPECT_EQ(response.result(), http::status::conflict) << spelling << ": " << response.body();
    EXPECT_EQ(json::parse(response.body()).at("error").as_string(),
              "backend " + spelling + " is already in pool 'web' (as " + a.address() + ")");
  }
  const auto backends = backends_of(admin);
  ASSERT_EQ(backends.size(), 1u);
  EXPECT_EQ(backends[0].at("address").as_string(), a.address());
}

TEST(BackendIdentity, OnePutListCannotNameABackendTwice) {
  TestBackend a{"a"}, b{"b"};
  KeelUnderTest keel{single_pool_config({a.address()}, kAdmin)};
  TestClient admin{keel.admin_address()};
  for (const auto& spelling : spellings(port_of(b.address()))) {
    const std::string body = "[" + post_body(b.address()) + "," + post_body(spelling) + "]";
    auto response = admin.request("PUT", "/api/v1/pools/web/backends", {}, body);
    EXPECT_EQ(response.result(), http::status::conflict) << spelling << ": " << response.body();
    EXPECT_EQ(json::parse(response.body()).at("error").as_string(),
              "backend " + spelling + " appears twice in the list (as " + b.address() + ")");
  }
  const auto backends = backends_of(admin);  // unchanged
  ASSERT_EQ(backends.size(), 1u);
  EXPECT_EQ(backends[0].at("address").as_string(), a.address());
}

// A PUT that keeps a backend under another spelling keeps the backend (its counters),
// and shows it as the PUT wrote it.
TEST(BackendIdentity, PutUnderAnotherSpellingKeepsTheBackend) {
  TestBackend a{"a"};
  KeelUnderTest keel{single_pool_config({a.address()}, kAdmin)};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/").body(), "ok from a");
  TestClient admin{keel.admin_address()};
  const std::string spelling = "localhost:" + port_of(a.address());
  auto replaced = admin.request("PUT", "/api/v1/pools/web/backends", {}, "[" + post_body(spelling) + "]");
  ASSERT_EQ(replaced.result(), http::status::ok) << replaced.body();
  const auto backends = backends_of(admin);
  ASSERT_EQ(backends.size(), 1u) << json::serialize(backends);  // not the old one draining out
  EXPECT_EQ(backends[0].at("address").as_string(), spelling);
  EXPECT_EQ(backends[0].at("state").as_string(), "active");
  EXPECT_EQ(backends[0].at("total_requests").as_int64(), 1);
}

// PATCH and DELETE resolve the address in the path as POST does; the listing keeps the
// address as it was added.
TEST(BackendIdentity, PatchAndDeleteFindTheBackendByAnySpelling) {
  TestBackend a{"a"}, b{"b"};
  KeelUnderTest keel{single_pool_config({a.address(), b.address()}, kAdmin)};
  TestClient admin{keel.admin_address()};
  int weight = 2;
  for (const auto& spelling : spellings(port_of(a.address()))) {
    auto patched = admin.request("PATCH", "/api/v1/pools/web/backends/" + admin::encode_path_segment(spelling), {},
                                 R"({"weight":)" + std::to_string(weight) + "}");
    ASSERT_EQ(patched.result(), http::status::ok) << spelling << ": " << patched.body();
    const auto backends = backends_of(admin);
    ASSERT_EQ(backends.size(), 2u);
    EXPECT_EQ(backends[0].at("address").as_string(), a.address());
    EXPECT_EQ(backends[0].at("weight").as_int64(), weight) << spelling;
    ++weight;
  }
  EXPECT_EQ(admin.request("PATCH", "/api/v1/pools/web/backends/localhost:1", {}, R"({"weight":2})").result(),
            http::status::not_found);
  EXPECT_EQ(admin.request("PATCH", "/api/v1/pools/web/backends/not%20an%20address", {}, R"({"weight":2})").result(),
            http::status::not_found);

  const std::string mapped = "[::ffff:127.0.0.1]:" + port_of(b.address());
  auto deleted = admin.request("DELETE", "/api/v1/pools/web/backends/" + admin::encode_path_segment(mapped));
  ASSERT_EQ(deleted.result(), http::status::accepted) << deleted.body();
  const auto backends = backends_of(admin);
  ASSERT_EQ(backends.size(), 2u);  // draining out, still listed
  EXPECT_EQ(backends[1].at("address").as_string(), b.address());
  EXPECT_EQ(backends[1].at("state").as_string(), "draining");
}

// A reload that writes a backend differently keeps it (no drain and re-add).
TEST(BackendIdentity, ReloadUnderAnotherSpellingKeepsTheBackend) {
  TestBackend a{"a"};
  const std::string path = ::testing::TempDir() + "keel-identity-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << single_pool_config({a.address()}, kAdmin);
  KeelUnderTest keel{single_pool_config({a.address()}, kAdmin), path};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/").body(), "ok from a");

  const std::string spelling = "localhost:" + port_of(a.address());
  std::ofstream(path) << single_pool_config({spelling}, kAdmin);
  EXPECT_TRUE(keel.proxy().reload_and_wait().empty());
  std::remove(path.c_str());
  TestClient admin{keel.admin_address()};
  const auto backends = backends_of(admin);
  ASSERT_EQ(backends.size(), 1u) << json::serialize(backends);
  EXPECT_EQ(backends[0].at("address").as_string(), spelling);
  EXPECT_EQ(backends[0].at("total_requests").as_int64(), 1);
}

TEST(BackendIdentity, StateFileNamingABackendTwiceIsRefused) {
  TestBackend a{"a"};
  const std::string state = ::testing::TempDir() + "keel-identity-state-" + std::to_string(::getpid()) + ".json";
  std::ofstream(state) << R"({"version": 1, "pools": {"web": [{"address": ")" << a.address()
                       << R"("}, {"address": "[::ffff:127.0.0.1]:)" << port_of(a.address()) << R"("}]}})";
  try {
    KeelUnderTest keel{single_pool_config({a.address()}, "state_file: " + state + "\n")};
    ADD_FAILURE() << "keel started with a state file that names one backend twice";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), state + ": pool 'web': backend '[::ffff:127.0.0.1]:" + port_of(a.address()) +
                                         "': same backend as '" + a.address() + "'");
  }
  std::remove(state.c_str());
}

}  // namespace
}  // namespace keel::test
