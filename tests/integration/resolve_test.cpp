// Backends by host name, re-resolved with a pool's `resolve`: a changed answer
// reaches the workers, a reordered one moves nothing, a failed one keeps the
// last address, and a pool without `resolve` keeps its load-time address.
//
// The name changes honestly, as a DNS record does: this file replaces the C
// library's getaddrinfo for the whole test binary (like tests/fuzz/fake_resolver.cpp),
// answering names under ".keel-test" from a table the test edits and passing
// every other name to the real one. keel's code is unchanged: the loader calls
// getaddrinfo directly, the re-resolution through asio's resolver thread.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::mutex g_mutex;
std::map<std::string, std::vector<std::string>> g_names;  // name -> IPv4 addresses, in answer order
std::set<const addrinfo*> g_ours;                         // lists this file allocated
std::atomic<int> g_lookups{0};                            // of ".keel-test" names

constexpr std::string_view kSuffix = ".keel-test";

template <class Function>
Function* real(const char* name) {
  return reinterpret_cast<Function*>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) {
  const std::string_view name = node == nullptr ? std::string_view() : node;
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix))
    return real<int(const char*, const char*, const addrinfo*, addrinfo**)>("getaddrinfo")(node, service, hints,
                                                                                            result);
  ++g_lookups;
  *result = nullptr;
  if (hints != nullptr && hints->ai_family == AF_INET6) return EAI_NONAME;
  const auto port = htons(static_cast<std::uint16_t>(service == nullptr ? 0 : std::atoi(service)));
  std::lock_guard lock(g_mutex);
  const auto found = g_names.find(std::string(name));
  if (found == g_names.end() || found->second.empty()) return EAI_NONAME;
  addrinfo** tail = result;
  for (const auto& text : found->second) {
    auto* address = new sockaddr_in{};
    address->sin_family = AF_INET;
    address->sin_port = port;
    ::inet_pton(AF_INET, text.c_str(), &address->sin_addr);
    auto* info = new addrinfo{};
    info->ai_family = AF_INET;
    info->ai_socktype = SOCK_STREAM;
    info->ai_protocol = IPPROTO_TCP;
    info->ai_addrlen = sizeof(sockaddr_in);
    info->ai_addr = reinterpret_cast<sockaddr*>(address);
    *tail = info;
    tail = &info->ai_next;
  }
  g_ours.insert(*result);
  return 0;
}

extern "C" void freeaddrinfo(addrinfo* info) {
  {
    std::lock_guard lock(g_mutex);
    if (g_ours.erase(info) == 0) {
      real<void(addrinfo*)>("freeaddrinfo")(info);
      return;
    }
  }
  while (info != nullptr) {
    addrinfo* next = info->ai_next;
    delete reinterpret_cast<sockaddr_in*>(info->ai_addr);
    delete info;
    info = next;
  }
}

namespace keel::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

void set_name(const std::string& name, std::vector<std::string> addresses) {
  std::lock_guard lock(g_mutex);
  g_names[name] = std::move(addresses);
}

// keel-echo on HOST:PORT (port 0: any), bound when this returns.
struct Echo {
  Echo(const std::string& id, const std::string& listen)
      : process(binary_path("keel-echo"), {"--listen", listen, "--id", id}) {
    const auto line = process.wait_for_line("listening on");
    if (!line) throw std::runtime_error("keel-echo " + id + " did not start: " + process.output(ChildProcess::Output::err));
    address = listening_address(*line).value();
  }
  ChildProcess process;
  std::string address;
};

// The id of the echo backend that answered GET `target`, or "" on an error.
std::string served_by(const std::string& keel, const std::string& target) {
  auto response = TestClient{keel}.get(target);
  if (response.result() != http::status::ok) return "";
  return std::string(json::parse(response.body()).at("id").as_string());
}

// Waits for `rounds` more lookups of ".keel-test" names: the resolver has run.
bool lookups_after(int before, int rounds) {
  return wait_until([&] { return g_lookups.load() >= before + rounds; }, 5s);
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t found = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++found;
  return found;
}

TEST(Resolve, ANameThatMovesIsFollowedOnlyByPoolsThatAskForIt) {
  Echo a{"a", "127.0.0.1:0"};
  const std::string port = a.address.substr(a.address.rfind(':') + 1);
  Echo b{"b", "127.0.0.2:" + port};  // the same port on another loopback address
  const std::string name = "svc.keel-test";
  const std::string backend = name + ":" + port;
  set_name(name, {"127.0.0.1"});
  KeelUnderTest keel{"listeners:\n  - address: 127.0.0.1:0\n"
                     "pools:\n"
                     "  - name: web\n    resolve: 100ms\n    backends: [{ address: " + backend + " }]\n"
                     "  - name: fixed\n    backends: [{ address: " + backend + " }]\n"
                     "routes:\n  - { path_prefix: /fixed, pool: fixed }\n  - { path_prefix: /, pool: web }\n"};
  ASSERT_EQ(served_by(keel.address(), "/"), "a");
  ASSERT_EQ(served_by(keel.address(), "/fixed"), "a");

  testing::internal::CaptureStderr();
  set_name(name, {"127.0.0.2"});
  const bool moved = wait_until([&] { return served_by(keel.address(), "/") == "b"; }, 5s);
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(moved) << log;
  EXPECT_EQ(served_by(keel.address(), "/fixed"), "a");  // no `resolve`: the load-time address stays
  EXPECT_EQ(count(log, "pool web: backend " + backend + " now resolves to 127.0.0.2:" + port + " (was 127.0.0.1:" +
                           port + ")"),
            1u)
      << log;

  // The current address is still in the answer, second: nothing moves.
  set_name(name, {"127.0.0.1", "127.0.0.2"});
  ASSERT_TRUE(lookups_after(g_lookups.load(), 2));
  EXPECT_EQ(served_by(keel.address(), "/"), "b");

  // No answer: the last address is kept, and said once per failure streak.
  testing::internal::CaptureStderr();
  set_name(name, {});
  const bool looked = lookups_after(g_lookups.load(), 3);
  const std::string failing = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(looked);
  EXPECT_EQ(served_by(keel.address(), "/"), "b");
  EXPECT_EQ(count(failing, "pool web: backend " + backend + ": cannot resolve 'svc.keel-test'"), 1u) << failing;
  EXPECT_NE(failing.find("; keeping 127.0.0.2:" + port), std::string::npos) << failing;

  testing::internal::CaptureStderr();
  set_name(name, {"127.0.0.1"});
  const bool back = wait_until([&] { return served_by(keel.address(), "/") == "a"; }, 5s);
  const std::string recovered = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(back) << recovered;
  EXPECT_EQ(count(recovered, "lookups of 'svc.keel-test' are back to normal"), 1u) << recovered;
}

TEST(Resolve, ANameMovingOntoAnotherBackendsAddressIsNotTaken) {
  Echo a{"a", "127.0.0.1:0"};
  const std::string port = a.address.substr(a.address.rfind(':') + 1);
  Echo b{"b", "127.0.0.2:" + port};
  set_name("one.keel-test", {"127.0.0.1"});
  set_name("two.keel-test", {"127.0.0.2"});
  KeelUnderTest keel{"listeners:\n  - address: 127.0.0.1:0\n"
                     "pools:\n  - name: web\n    resolve: 100ms\n    balance: round_robin\n    backends:\n"
                     "      - { address: one.keel-test:" + port + " }\n"
                     "      - { address: two.keel-test:" + port + " }\n"};
  testing::internal::CaptureStderr();
  set_name("two.keel-test", {"127.0.0.1"});
  const bool looked = lookups_after(g_lookups.load(), 6);  // two rounds answered
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(looked);
  EXPECT_EQ(count(log, "the address of backend"), 1u) << log;  // once, not every round
  EXPECT_NE(log.find("pool web: backend two.keel-test:" + port + ": 'two.keel-test' now resolves to 127.0.0.1:" +
                     port + ", the address of backend one.keel-test:" + port + "; keeping 127.0.0.2:" + port),
            std::string::npos)
      << log;
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.insert(served_by(keel.address(), "/"));
  EXPECT_EQ(seen, (std::set<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace keel::test
