// HTTP/2 attacks against keel, each from tests/integration/http2/h2_client.py
// (python3-h2, or raw frames where the library would not misbehave): keel must
// answer the attacker as a server should and keep serving everyone else.
#include "tests/integration/http2_support.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>

namespace keel::test {
namespace {

using namespace std::chrono_literals;

// keel still serves after the attack.
void expect_still_serving(const std::string& address) {
  EXPECT_EQ(h2_client("get", address).at("status"), "200");
}

TEST(Http2Defence, StreamsPastMaxConcurrentStreamsAreRefused) {
  TestBackend backend;
  backend.set_reply(Reply::text("slow").with_delay(300ms));  // the first ten are still open when the rest arrive
  KeelUnderTest keel(single_pool_config({backend.address()}, "limits:\n  http2_max_concurrent_streams: 10\n"));
  const auto result = h2_client("concurrent", keel.address(), "30");
  EXPECT_EQ(result.at("answered"), "10");
  EXPECT_EQ(result.at("refused"), "20");
  expect_still_serving(keel.address());
}

TEST(Http2Defence, HeaderListPastMaxHeaderBytesGets431CookiesCounted) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}, "limits:\n  max_header_bytes: 4096\n"));
  EXPECT_EQ(h2_client("big_headers", keel.address(), "8000").at("status"), "431");
  EXPECT_EQ(h2_client("big_headers", keel.address(), "2000").at("status"), "200");
  EXPECT_EQ(backend.request_count(), 1u);
}

TEST(Http2Defence, RapidResetEndsInGoaway) {
  TestBackend backend;
  backend.set_reply(Reply::hang());
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("rapid_reset", keel.address(), "5000");
  EXPECT_NE(result.at("goaway"), "None");
  EXPECT_NE(result.at("goaway"), "0");  // not a graceful one
  // Cancelled streams let go of their backend connections.
  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, 5s))
      << backend.open_connection_count();
  backend.set_reply(Reply::text("ok"));
  expect_still_serving(keel.address());
}

TEST(Http2Defence, ContinuationFloodEndsInGoaway) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("continuation_flood", keel.address(), "10000");
  EXPECT_EQ(result.at("goaway"), "11");  // ENHANCE_YOUR_CALM
  EXPECT_EQ(result.at("closed"), "True");
  EXPECT_EQ(backend.request_count(), 0u);
  expect_still_serving(keel.address());
}

TEST(Http2Defence, SettingsFloodEndsInGoaway) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("settings_flood", keel.address(), "50000");
  EXPECT_EQ(result.at("goaway"), "11");  // ENHANCE_YOUR_CALM
  EXPECT_EQ(result.at("closed"), "True");
  expect_still_serving(keel.address());
}

TEST(Http2Defence, PingFloodEndsInGoaway) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  // The attacker reads nothing while it sends: once the socket buffers (4 MiB
  // on loopback) are full, keel's queue of PING ACKs passes 1000 and the
  // connection ends (the GOAWAY may be lost in the reset that closing on
  // unread bytes causes).
  const auto result = h2_client("ping_flood", keel.address(), "600000");
  EXPECT_EQ(result.at("closed"), "True");
  EXPECT_TRUE(result.at("goaway") == "11" || result.at("goaway") == "None") << result.at("goaway");
  expect_still_serving(keel.address());
}

// A client that keeps its window shut cannot hold a stream (and its backend
// connection and buffers) past timeouts.idle.
TEST(Http2Defence, ZeroWindowStallIsResetAfterTheIdleTimeout) {
  TestBackend backend;
  backend.set_reply(Reply::pattern(1'000'000));
  KeelUnderTest keel(single_pool_config({backend.address()}, "timeouts:\n  idle: 1s\n"));
  const auto result = h2_client("zero_window", keel.address(), "/big");
  EXPECT_EQ(result.at("status"), "200");
  EXPECT_EQ(result.at("reset"), "8");  // CANCEL
  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, 5s));
}

TEST(Http2Defence, BodiesPastMaxBodyBytesGet413) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}, "limits:\n  max_body_bytes: 100000\n"));
  // Announced: refused before a backend is chosen.
  const std::string body_file = ::testing::TempDir() + "keel-h2-body-" + std::to_string(::getpid());
  std::ofstream(body_file) << std::string(150'000, 'p');
  const auto announced = run_client("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "--data-binary",
                                                       "@" + body_file, "-o", "/dev/null", "-w",
                                                       "%{http_code}", "http://" + keel.address() + "/up"});
  std::remove(body_file.c_str());
  EXPECT_EQ(announced.out, "413") << announced.err;
  // Unannounced (no content-length): refused once the bytes pass the limit.
  const auto streamed = h2_client("upload", keel.address(), "300000");
  EXPECT_EQ(streamed.at("status"), "413");
  EXPECT_EQ(backend.request_count(), 0u);
  expect_still_serving(keel.address());
}

// Headers, the whole body and END_STREAM in one write: the limit holds and the
// bytes past it are not forwarded as a shorter body.
TEST(Http2Defence, ABodyPastTheLimitThatCameWithItsHeadGets413) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) { return Reply::text("got " + std::to_string(request.body.size())); });
  KeelUnderTest keel(single_pool_config({backend.address()}, "limits:\n  max_body_bytes: 1000\n"));
  const auto under = h2_client("post_whole", keel.address(), "900");
  EXPECT_EQ(under.at("status"), "200");
  EXPECT_EQ(under.at("body"), "got 900");
  const auto over = h2_client("post_whole", keel.address(), "2000");
  EXPECT_EQ(over.at("status"), "413");
  EXPECT_EQ(backend.request_count(), 1u);
}

TEST(Http2Defence, AResetStreamCancelsItsBackendRequest) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    return request.target == "/held" ? Reply::hang() : Reply::text("ok");
  });
  KeelUnderTest keel(single_pool_config({backend.address()}));
  ChildProcess client("/usr/bin/python3", {h2_client_script(), "reset_after_signal", keel.address(), "/held"});
  ASSERT_TRUE(client.wait_for_line("sent"));
  ASSERT_TRUE(backend.next_request(5s));  // the request reached the backend
  ASSERT_TRUE(wait_until([&] { return backend.open_connection_count() == 1; }, 5s));
  client.signal(SIGUSR1);
  const auto after = client.wait_for_line("after");
  ASSERT_TRUE(after) << client.output(ChildProcess::Output::err);
  EXPECT_EQ(*after, "after 200");  // the connection serves on
  // The held request's backend connection was closed; the second one's is idle.
  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() <= 1; }, 5s));
  EXPECT_EQ(client.wait_exit(10s), 0);
}

}  // namespace
}  // namespace keel::test
