#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/http/message_framing.hpp"

namespace keel::http {
namespace {

TEST(RequestFraming, AsTheClientFramedIt) {
  EXPECT_EQ(request_framing(true, boost::none), Framing::chunked);
  EXPECT_EQ(request_framing(false, std::uint64_t{0}), Framing::length);
  EXPECT_EQ(request_framing(false, std::uint64_t{12}), Framing::length);
  EXPECT_EQ(request_framing(false, boost::none), Framing::none);
}

struct PlanCase {
  std::string name;
  ResponseHeadFacts facts;
  Framing from_backend;
  Framing to_client;
  std::uint64_t content_length = 0;
  bool pass_content_length = false;
};

TEST(PlanResponse, Table) {
  const std::vector<PlanCase> cases = {
      {"length passes through", {.content_length = std::uint64_t{5}}, Framing::length, Framing::length, 5},
      {"length to 1.0", {.content_length = std::uint64_t{5}, .client_version = 10}, Framing::length,
       Framing::length, 5},
      {"length to h2", {.content_length = std::uint64_t{5}, .client_version = kHttp2Version}, Framing::length,
       Framing::length, 5},
      {"chunked to 1.1", {.chunked = true}, Framing::chunked, Framing::chunked},
      {"chunked to 1.0", {.chunked = true, .client_version = 10}, Framing::chunked, Framing::until_close},
      {"chunked to h2", {.chunked = true, .client_version = kHttp2Version}, Framing::chunked,
       Framing::until_close},
      {"until close to 1.1", {}, Framing::until_close, Framing::chunked},
      {"until close to 1.0", {.client_version = 10}, Framing::until_close, Framing::until_close},
      {"done at head: Content-Length 0", {.body_done = true, .content_length = std::uint64_t{0}}, Framing::none,
       Framing::length, 0},
      {"204", {.status = 204, .body_done = true}, Framing::none, Framing::none},
      {"304 keeps its length", {.status = 304, .body_done = true, .content_length = std::uint64_t{9}},
       Framing::none, Framing::none, 0, true},
      {"HEAD keeps its length", {.head_request = true, .body_done = true, .chunked = true}, Framing::none,
       Framing::none, 0, true},
  };
  for (const PlanCase& c : cases) {
    const ResponsePlan plan = plan_response(c.facts);
    EXPECT_EQ(plan.from_backend, c.from_backend) << c.name;
    EXPECT_EQ(plan.to_client.framing, c.to_client) << c.name;
    EXPECT_EQ(plan.to_client.content_length, c.content_length) << c.name;
    EXPECT_EQ(plan.to_client.pass_content_length, c.pass_content_length) << c.name;
  }
}

TEST(KeepClient, AfterTheHead) {
  EXPECT_TRUE(keep_client_after_head(true, Framing::length, false));
  EXPECT_TRUE(keep_client_after_head(true, Framing::chunked, false));
  EXPECT_TRUE(keep_client_after_head(true, Framing::none, false));
  EXPECT_FALSE(keep_client_after_head(false, Framing::length, false));         // the client said close
  EXPECT_FALSE(keep_client_after_head(true, Framing::until_close, false));     // the close ends the body
  EXPECT_FALSE(keep_client_after_head(true, Framing::length, true));           // body still coming
}

TEST(KeepClient, AfterTheRelay) {
  const RelayFacts whole{.complete = true};
  EXPECT_TRUE(keep_client_after_relay(true, false, whole));
  EXPECT_FALSE(keep_client_after_relay(false, false, whole));
  EXPECT_FALSE(keep_client_after_relay(true, true, whole));
  EXPECT_FALSE(keep_client_after_relay(true, false, {.upstream_intact = false}));
  EXPECT_FALSE(keep_client_after_relay(true, false, {.client_intact = false}));
}

TEST(KeepUpstream, OnlyAfterAWholeCleanExchange) {
  const UpstreamEndFacts clean{.relay = {.complete = true}, .from_backend = Framing::length};
  EXPECT_TRUE(keep_upstream_after(clean));
  struct Case {
    const char* name;
    UpstreamEndFacts facts;
  };
  std::vector<Case> broken;
  broken.push_back({"incomplete", clean});
  broken.back().facts.relay.complete = false;
  broken.push_back({"backend failed", clean});
  broken.back().facts.relay.upstream_intact = false;
  broken.push_back({"Connection: close", clean});
  broken.back().facts.backend_keep_alive = false;
  broken.push_back({"until close", clean});
  broken.back().facts.from_backend = Framing::until_close;
  broken.push_back({"upload failed", clean});
  broken.back().facts.upload_failed = true;
  broken.push_back({"extra bytes", clean});
  broken.back().facts.bytes_left_over = true;
  broken.push_back({"closed", clean});
  broken.back().facts.socket_open = false;
  for (const Case& c : broken) EXPECT_FALSE(keep_upstream_after(c.facts)) << c.name;
  UpstreamEndFacts client_gone = clean;
  client_gone.relay.client_intact = false;  // the backend's side is still whole
  EXPECT_TRUE(keep_upstream_after(client_gone));
}

TEST(Chunks, AppendedAsRelayParserFramesThem) {
  std::string out = "kept|";
  append_chunk(out, "");
  append_chunk(out, std::string(26, 'x'));
  append_last_chunk(out, {{beast_http::field::unknown, "Grpc-Status", "0"}});
  EXPECT_EQ(out, "kept|1a\r\n" + std::string(26, 'x') + "\r\n0\r\nGrpc-Status: 0\r\n\r\n");
  std::string bare;
  append_last_chunk(bare);
  EXPECT_EQ(bare, "0\r\n\r\n");
}

}  // namespace
}  // namespace keel::http
