// The test support library tested against itself and keel-echo, so a failing proxy test
// can be trusted to be about the proxy.
#include "tests/support/dead_port.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json.hpp>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <csignal>

namespace keel::test {
namespace {

namespace json = boost::json;

TEST(SupportWait, ReturnsAsSoonAsThePredicateHolds) {
  int calls = 0;
  EXPECT_TRUE(wait_until([&] { return ++calls == 3; }, 5s));
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(wait_until([] { return false; }, 20ms));
}

TEST(SupportBackend, RoundTripRecordsTheRequest) {
  TestBackend backend{"a"};
  TestClient client{backend.address()};
  auto response = client.request("POST", "/submit?x=1",
                                 {{"X-Twice", "one"}, {"Content-Type", "text/plain"}, {"x-twice", "two"}},
                                 "hello body");
  ASSERT_TRUE(response.ok()) << response.ec.message();
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response.body(), "ok from a");

  auto seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->method, "POST");
  EXPECT_EQ(seen->target, "/submit?x=1");
  EXPECT_EQ(seen->version, 11u);
  EXPECT_EQ(seen->body, "hello body");
  EXPECT_EQ(seen->at("host"), backend.address());
  EXPECT_EQ(seen->at("Content-Length"), "10");
  EXPECT_EQ(seen->all("X-TWICE"), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(seen->peer, client.local_address());
  EXPECT_FALSE(seen->has("Via"));
  EXPECT_THROW(seen->at("Via"), std::out_of_range);
  ASSERT_EQ(seen->headers.size(), 5u);

  // The order on the wire is kept as is (Beast, under request(), groups repeated names).
  ASSERT_FALSE(client.send_raw("GET / HTTP/1.1\r\nB: 1\r\nHost: x\r\nA: 2\r\nb: 3\r\n\r\n"));
  ASSERT_TRUE(client.read_response().ok());
  seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->headers, (Headers{{"B", "1"}, {"Host", "x"}, {"A", "2"}, {"b", "3"}}));
  EXPECT_EQ(seen->connection_id, 1u);
  EXPECT_EQ(seen->index_on_connection, 1u);
}

TEST(SupportBackend, KeepAliveReusesOneConnection) {
  TestBackend backend;
  TestClient client{backend.address()};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.get("/").result(), http::status::ok);
  EXPECT_EQ(backend.request_count(), 3u);
  EXPECT_EQ(backend.connection_count(), 1u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto seen = backend.next_request(2s);
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->connection_id, 1u);
    EXPECT_EQ(seen->index_on_connection, i);
  }
  TestClient other{backend.address()};
  ASSERT_EQ(other.get("/").result(), http::status::ok);
  auto seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->connection_id, 2u);
}

TEST(SupportBackend, ScriptedStatusHeadersAndClose) {
  TestBackend backend;
  backend.set_reply(Reply::text("nope", http::status::not_found).with_header("X-A", "1").closing());
  TestClient client{backend.address()};
  auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::not_found);
  EXPECT_EQ(response["X-A"], "1");
  EXPECT_EQ(response.body(), "nope");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(client.wait_closed(2s));
  EXPECT_FALSE(client.is_open());
}

TEST(SupportBackend, DelayDoesNotBlockOtherConnections) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    return request.target == "/slow" ? Reply::text("slow").held() : Reply::text("fast");
  });
  TestClient slow{backend.address()};
  ASSERT_FALSE(slow.send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(backend.next_request(2s));  // now held
  EXPECT_EQ(TestClient{backend.address()}.get("/").body(), "fast");
  backend.release();
  EXPECT_EQ(slow.read_response().body(), "slow");

  backend.set_reply(Reply::text("later").with_delay(150ms));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(slow.get("/").body(), "later");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST(SupportBackend, ChunkedResponseIsObservedPieceByPiece) {
  TestBackend backend;
  Reply reply = Reply::streamed("aaaabbbbcccc", 3, 10ms);
  reply.hold_last_chunk = true;
  backend.set_reply(reply);
  TestClient client{backend.address()};
  ASSERT_FALSE(client.write_request([&] {
    http::request<http::string_body> request{http::verb::get, "/", 11};
    request.set(http::field::host, "x");
    return request;
  }()));
  auto head = client.read_head(2s);
  ASSERT_TRUE(head.ok()) << head.ec.message();
  EXPECT_TRUE(head.chunked());
  std::string seen;
  while (seen.size() < 8) {
    auto piece = client.read_body_piece(2s);
    ASSERT_FALSE(piece.ec) << piece.ec.message();
    ASSERT_FALSE(piece.done);
    seen += piece.data;
  }
  EXPECT_EQ(seen, "aaaabbbb");  // the last chunk is still held by the backend
  backend.release();
  auto rest = client.read_body_rest(2s);
  ASSERT_FALSE(rest.ec) << rest.ec.message();
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(rest.data, "cccc");
  EXPECT_EQ(client.get("/").body(), "aaaabbbbcccc");  // the gate stays open; same connection
}

TEST(SupportBackend, LargePatternBody) {
  TestBackend backend;
  constexpr std::uint64_t kSize = 8 * 1024 * 1024;
  backend.set_handler([](const RecordedRequest& request) {
    Reply reply = Reply::pattern(kSize);
    reply.chunked = request.target == "/chunked";
    reply.chunks = 7;
    return reply;
  });
  TestClient client{backend.address()};
  for (const char* target : {"/", "/chunked"}) {
    auto response = client.get(target, {}, 10s);
    ASSERT_TRUE(response.ok()) << response.ec.message();
    EXPECT_EQ(response.body().size(), kSize);
    EXPECT_TRUE(is_pattern(response.body()));
  }
  EXPECT_FALSE(is_pattern("0123X"));
}

TEST(SupportBackend, FailureModes) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    if (request.target == "/cut") return Reply::close_mid_body(1000, 100);
    if (request.target == "/garbage") return Reply::garbage();
    if (request.target == "/hang") return Reply::hang();
    return Reply::close_without_response();
  });

  TestClient cut{backend.address()};
  ASSERT_FALSE(cut.send_raw("GET /cut HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = cut.read_head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head[http::field::content_length], "1000");
  auto body = cut.read_body_rest();
  EXPECT_EQ(body.ec, http::error::partial_message);
  EXPECT_EQ(body.data.size(), 100u);
  EXPECT_TRUE(is_pattern(body.data));

  EXPECT_FALSE(TestClient{backend.address()}.get("/garbage").ok());

  TestClient hang{backend.address()};
  auto response = hang.get("/hang", {}, 100ms);  // bounded: nothing is supposed to come
  EXPECT_EQ(response.ec, boost::beast::error::timeout);
  EXPECT_EQ(response.result(), http::status::unknown);
  EXPECT_TRUE(hang.is_open());

  TestClient closed{backend.address()};
  EXPECT_EQ(closed.get("/close").ec, http::error::end_of_stream);
  EXPECT_FALSE(closed.is_open());
}

TEST(SupportBackend, UpgradeEchoesBytesBothWays) {
  TestBackend backend;
  backend.set_reply(Reply::upgrade_echo());
  TestClient client{backend.address()};
  // The first tunnel bytes travel right behind the request.
  ASSERT_FALSE(client.send_raw(
      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nearly"));
  auto head = client.read_raw_until("\r\n\r\n");
  ASSERT_FALSE(head.ec) << head.ec.message();
  EXPECT_TRUE(head.data.starts_with("HTTP/1.1 101 ")) << head.data;
  EXPECT_NE(head.data.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos);
  EXPECT_EQ(client.read_raw_exactly(5).data, "early");
  for (const char* piece : {"p", "in", "g\r\n"}) ASSERT_FALSE(client.send_raw(piece));
  EXPECT_EQ(client.read_raw_exactly(6).data, "ping\r\n");
  client.shutdown_send();
  auto rest = client.read_raw_until_close_or(2s);
  EXPECT_TRUE(rest.closed);
  EXPECT_EQ(rest.data, "");
}

TEST(SupportBackend, SplitAndPipelinedRawRequests) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) { return Reply::text(request.target); });
  TestClient client{backend.address()};
  const std::string request = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t split = 1; split < request.size(); ++split) {
    ASSERT_FALSE(client.send_raw(request.substr(0, split)));
    ASSERT_FALSE(client.send_raw(request.substr(split)));
    ASSERT_EQ(client.read_response().body(), "/one") << "split at " << split;
  }
  ASSERT_FALSE(client.send_raw("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(client.read_response().body(), "/a");
  EXPECT_EQ(client.read_response().body(), "/b");
  EXPECT_EQ(backend.connection_count(), 1u);
}

TEST(SupportBackend, RequestHeadArrivesBeforeTheBody) {
  TestBackend backend;
  TestClient client{backend.address()};
  ASSERT_FALSE(client.send_raw("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc"));
  auto head = backend.next_request_head(2s);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->target, "/up");
  EXPECT_EQ(backend.request_count(), 0u);
  ASSERT_FALSE(client.send_raw("def"));
  EXPECT_EQ(client.read_response().body(), "ok from backend");
  EXPECT_EQ(backend.next_request(2s)->body, "abcdef");
}

TEST(SupportBackend, ChunkedRequestBodyIsDecoded) {
  TestBackend backend;
  TestClient client{backend.address()};
  auto response = client.request("POST", "/", {{"Transfer-Encoding", "chunked"}}, "streamed");
  ASSERT_EQ(response.result(), http::status::ok);
  auto seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->body, "streamed");
  EXPECT_EQ(seen->at("Transfer-Encoding"), "chunked");
}

TEST(SupportBackend, CloseConnectionsAndStop) {
  // The port stays held across stop() and the restart in place below, so no test
  // running in parallel can take it in between.
  const DeadPort reserved;
  TestBackend backend{"backend", reserved.port()};
  TestClient client{backend.address()};
  ASSERT_EQ(client.get("/").result(), http::status::ok);
  EXPECT_EQ(backend.open_connection_count(), 1u);
  backend.close_connections();
  EXPECT_TRUE(client.wait_closed(2s));
  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, 2s));
  ASSERT_FALSE(client.reconnect());
  EXPECT_EQ(client.get("/").result(), http::status::ok);

  const auto address = backend.address();
  backend.stop();
  EXPECT_TRUE(client.wait_closed(2s));
  EXPECT_EQ(client.connect(address), boost::asio::error::connection_refused);
  EXPECT_EQ(client.get("/").ec, boost::asio::error::connection_refused);
  backend.stop();  // idempotent

  TestBackend again{"again", reserved.port()};
  EXPECT_EQ(TestClient{address}.get("/").body(), "ok from again");
}

TEST(SupportBackend, StopsWithHeldAndHangingConnections) {
  TestClient held_client;
  TestClient hanging_client;
  {
    TestBackend backend;
    backend.set_handler([](const RecordedRequest& request) {
      return request.target == "/held" ? Reply::text("x").held() : Reply::hang();
    });
    ASSERT_FALSE(held_client.connect(backend.address()));
    ASSERT_FALSE(hanging_client.connect(backend.address()));
    ASSERT_FALSE(held_client.send_raw("GET /held HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_FALSE(hanging_client.send_raw("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(backend.next_request(2s));
    ASSERT_TRUE(backend.next_request(2s));
  }  // the destructor must not wait for either
  EXPECT_TRUE(held_client.wait_closed(2s));
  EXPECT_TRUE(hanging_client.wait_closed(2s));
}

TEST(SupportClient, ResolvesLocalhost) {
  TestBackend backend;
  TestClient client{"localhost:" + std::to_string(backend.port())};
  EXPECT_EQ(client.get("/").result(), http::status::ok);
}

TEST(SupportClient, ReportsConnectFailures) {
  TestClient client{"127.0.0.1:notaport"};
  EXPECT_TRUE(client.connect_error());
  EXPECT_FALSE(client.get("/").ok());
  EXPECT_FALSE(client.is_open());
}

TEST(SupportProcess, EchoAnswersWithJsonAndExitsOnSigterm) {
  EchoProcess echo{"e1"};
  TestClient client{echo.address()};
  auto response = client.request("POST", "/path?q=1", {{"X-Twice", "a"}, {"x-twice", "b"}},
                                 std::string(100'000, 'z'));
  ASSERT_TRUE(response.ok()) << response.ec.message();
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  const auto body = json::parse(response.body()).as_object();
  EXPECT_EQ(body.at("id").as_string(), "e1");
  EXPECT_EQ(body.at("method").as_string(), "POST");
  EXPECT_EQ(body.at("target").as_string(), "/path?q=1");
  EXPECT_EQ(body.at("version").as_string(), "1.1");
  EXPECT_EQ(body.at("body_length").to_number<std::uint64_t>(), 100'000u);
  const auto& headers = body.at("headers").as_object();
  EXPECT_EQ(headers.at("host").as_string(), echo.address());
  EXPECT_EQ(headers.at("x-twice"), (json::array{"a", "b"}));

  auto chunked = client.request("PUT", "/c", {{"Transfer-Encoding", "chunked"}}, "12345");
  ASSERT_TRUE(chunked.ok()) << chunked.ec.message();
  EXPECT_EQ(json::parse(chunked.body()).as_object().at("body_length").to_number<int>(), 5);

  auto health = client.get("/healthz");
  EXPECT_EQ(health.result(), http::status::ok);
  EXPECT_EQ(health.body(), "ok");
  EXPECT_TRUE(client.is_open());  // all on one kept-alive connection

  ASSERT_TRUE(echo.process().signal(SIGTERM));
  EXPECT_EQ(echo.process().wait_exit(5s), 0);
  EXPECT_FALSE(echo.process().is_running());
}

TEST(SupportProcess, EchoHonoursCloseAndHttp10) {
  EchoProcess echo;
  TestClient client{echo.address()};
  http::request<http::string_body> old{http::verb::get, "/old", 10};
  auto response = client.send(old);
  ASSERT_TRUE(response.ok()) << response.ec.message();
  EXPECT_EQ(response.version(), 10u);
  EXPECT_EQ(json::parse(response.body()).as_object().at("version").as_string(), "1.0");
  EXPECT_TRUE(client.wait_closed(2s));

  ASSERT_FALSE(client.reconnect());
  EXPECT_EQ(client.get("/", {{"Connection", "close"}}).result(), http::status::ok);
  EXPECT_TRUE(client.wait_closed(2s));
}

TEST(SupportProcess, EchoRejectsBadArguments) {
  ChildProcess bad{binary_path("keel-echo"), {"--listen", "nowhere"}};
  EXPECT_EQ(bad.wait_exit(5s), 2);
  EXPECT_NE(bad.output(ChildProcess::Output::err).find("usage:"), std::string::npos);

  ChildProcess help{binary_path("keel-echo"), {"--help"}};
  EXPECT_TRUE(help.wait_for_line("usage:", 5s));
  EXPECT_EQ(help.wait_exit(5s), 0);
}

TEST(SupportProcess, ChildProcessBasics) {
  EXPECT_THROW(ChildProcess("/nonexistent/binary", {}), std::system_error);

  ChildProcess shell{"/bin/sh", {"-c", "echo one; echo two >&2; printf 'no newline'; exec sleep 60"}};
  EXPECT_EQ(shell.wait_for_line("one"), "one");
  EXPECT_EQ(shell.wait_for_line("two", 5s, ChildProcess::Output::err), "two");
  EXPECT_FALSE(shell.wait_for_line("one", 50ms));  // each line is returned once
  EXPECT_TRUE(shell.is_running());
  ASSERT_TRUE(shell.signal(SIGKILL));
  EXPECT_EQ(shell.wait_exit(5s), 128 + SIGKILL);
  EXPECT_EQ(shell.wait_for_line("no newline"), "no newline");  // flushed at end of output

  ChildProcess lingering{"/bin/sh", {"-c", "exec sleep 60"}};
  EXPECT_FALSE(lingering.wait_exit(10ms));
}  // `lingering` is killed and reaped here

// Runs `script` in a shell as a ChildProcess and destroys it, having read its stderr
// (`kill`: the destructor kills it; else it exits by itself first).
void run_child(const std::string& script, bool kill) {
  ChildProcess child{"/bin/sh", {"-c", script}};
  if (kill)
    EXPECT_TRUE(child.wait_for_line("WARNING", 5s, ChildProcess::Output::err));
  else
    EXPECT_TRUE(child.wait_exit(5s));
}

// scripts/tsan relies on this: a race reported by a keel child fails the test, even one
// that kills the child without looking at its exit status or output.
TEST(SupportProcess, AThreadSanitizerReportInAChildFailsTheTest) {
  const std::string report = "echo 'WARNING: ThreadSanitizer: data race (pid=1)' >&2; ";
  EXPECT_NONFATAL_FAILURE(run_child(report + "exec sleep 60", true),
                          "ThreadSanitizer reported a data race in child process");
  EXPECT_NONFATAL_FAILURE(run_child(report + "exit 66", false), "data race (pid=1)");
  run_child("echo 'WARNING: something else' >&2; exec sleep 60", true);
}

TEST(SupportProcess, ListeningAddress) {
  EXPECT_EQ(listening_address("listening on 127.0.0.1:8080"), "127.0.0.1:8080");
  EXPECT_EQ(listening_address("keel: listening on [::1]:9 (admin)"), "[::1]:9");
  EXPECT_EQ(listening_address("starting"), std::nullopt);
}

}  // namespace
}  // namespace keel::test
