// HTTP/2 towards clients over h2c (prior knowledge) with real clients: curl,
// nghttp and python3-h2; requests forwarded to HTTP/1.1 backends like any other.
#include "tests/integration/http2_support.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_certificates.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

namespace keel::test {
namespace {

using namespace std::chrono_literals;

TEST(Http2, CurlPriorKnowledgeIsForwardedAsHttp11) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto run = run_client("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-H", "Cookie: a=1",
                                                 "-H", "Cookie: b=2", "-w", "\\n%{http_version} %{http_code}",
                                                 "http://" + keel.address() + "/path?q=1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "ok from backend\n2 200");
  const auto seen = backend.next_request(5s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->method, "GET");
  EXPECT_EQ(seen->target, "/path?q=1");
  EXPECT_EQ(seen->at("Host"), keel.address());
  EXPECT_EQ(seen->at("X-Forwarded-Proto"), "http");
  EXPECT_EQ(seen->at("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(seen->at("Via"), "1.1 keel");
  EXPECT_EQ(seen->at("Cookie"), "a=1; b=2");
}

// The HTTP/1.1 connection finds the preface in the bytes it reads and hands the
// connection over with them, also when they come in pieces.
TEST(Http2, APrefaceSplitAcrossWritesIsStillHttp2) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("split_preface", keel.address());
  EXPECT_EQ(result.at("status"), "200");
  EXPECT_EQ(result.at("body"), "ok from backend");
}

TEST(Http2, Http11ClientsOnTheSameListenerAreUnchanged) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto response = TestClient{keel.address()}.get("/plain");
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "ok from backend");
  // A request line that starts like the preface ("P") is HTTP/1.1 all the same.
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("P"));
  ASSERT_FALSE(client.send_raw("UT /p HTTP/1.1\r\nHost: keel.test\r\nContent-Length: 2\r\n\r\nok"));
  const auto put = client.read_response(std::chrono::seconds(5));
  EXPECT_EQ(put.result_int(), 200u);
  const auto seen = backend.next_request(5s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->method, "GET");
  const auto second = backend.next_request(5s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->method, "PUT");
  EXPECT_EQ(second->body, "ok");
}

TEST(Http2, OffOnAListenerMakesThePrefaceAnHttp11Error) {
  TestBackend backend;
  const std::string yaml = "workers: 1\nlisteners:\n  - address: 127.0.0.1:0\n    http2: false\n"
                           "pools:\n  - name: web\n    backends:\n      - { address: \"" + backend.address() + "\" }\n";
  KeelUnderTest keel(yaml);
  const auto run = run_client("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                                                 "%{http_version}", "http://" + keel.address() + "/"});
  EXPECT_NE(run.out, "2");
  EXPECT_EQ(backend.request_count(), 0u);
}

TEST(Http2, NghttpStreamsOnOneConnectionAreBalancedLikeRequests) {
  TestBackend a{"a"}, b{"b"};
  KeelUnderTest keel(single_pool_config({a.address(), b.address()}));
  std::vector<std::string> arguments = {"-n", "-s"};  // discard bodies, print statistics
  for (int i = 0; i < 20; ++i) arguments.push_back("http://" + keel.address() + "/n" + std::to_string(i));
  const auto run = run_client("/usr/bin/nghttp", arguments);
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  EXPECT_EQ(a.request_count(), 10u);  // round robin per stream, not per connection
  EXPECT_EQ(b.request_count(), 10u);
  std::size_t ok = 0;
  for (auto at = run.out.find(" 200 "); at != std::string::npos; at = run.out.find(" 200 ", at + 1)) ++ok;
  EXPECT_EQ(ok, 20u) << run.out;
}

TEST(Http2, UploadOfUnknownLengthReachesTheBackendWhole) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) { return Reply::text("got " + std::to_string(request.body.size())); });
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("upload", keel.address(), "300000");  // several windows' worth
  EXPECT_EQ(result.at("sent"), "300000");
  EXPECT_EQ(result.at("status"), "200");
  EXPECT_EQ(result.at("body"), "got 300000");
  const auto seen = backend.next_request(5s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("Transfer-Encoding"), "chunked");
}

TEST(Http2, CurlUploadWithLengthAndLargeDownload) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    return request.method == "POST" ? Reply::text("posted " + std::to_string(request.body.size()))
                                    : Reply::pattern(3'000'000);
  });
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto post = run_client("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "--data-binary",
                                                  std::string(100'000, 'p'), "http://" + keel.address() + "/up"});
  ASSERT_EQ(post.exit_code, 0) << post.err;
  EXPECT_EQ(post.out, "posted 100000");
  const auto get = run_client("/usr/bin/curl", {"-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                                                 "%{size_download} %{http_code}", "http://" + keel.address() + "/big"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "3000000 200");
}

TEST(Http2, ErrorsKeepTheirStatus) {
  TestBackend backend;
  backend.set_reply(Reply::close_without_response());
  KeelUnderTest keel(make_config({PoolSpec{.backends = {backend.address()}, .retries = 0}}));
  auto result = h2_client("get", keel.address());
  EXPECT_EQ(result.at("status"), "502");
  backend.stop();
  KeelUnderTest empty(make_config({PoolSpec{.backends = {}}}));
  result = h2_client("get", empty.address());
  EXPECT_EQ(result.at("status"), "503");
}

TEST(Http2, ResponseTrailersReachTheClientHopByHopOnesStayBehind) {
  TestBackend backend;
  Reply reply = Reply::streamed("hello trailers", 3, 0ms);
  reply.trailers = {{"Grpc-Status", "0"}, {"X-Checksum", "sha256=abc"}, {"Keep-Alive", "timeout=1"}};
  backend.set_reply(reply);
  KeelUnderTest keel(single_pool_config({backend.address()}));
  for (int i = 0; i < 2; ++i) {  // the second one reuses the backend connection
    const auto result = h2_client("get", keel.address());
    EXPECT_EQ(result.at("status"), "200");
    EXPECT_EQ(result.at("body"), "hello trailers");
    EXPECT_EQ(result.at("trailers"), "grpc-status=0,x-checksum=sha256=abc");
    EXPECT_EQ(result.at("reset"), "");
  }
  EXPECT_EQ(backend.connection_count(), 1u);
}

TEST(Http2, KeelsOwnAnswersAreTheHttp11OnesWithRetryAfterOn503) {
  KeelUnderTest empty(make_config({PoolSpec{.backends = {}}}));
  const auto result = h2_client("get", empty.address());
  EXPECT_EQ(result.at("status"), "503");
  EXPECT_EQ(result.at("body").rfind("503 Service Unavailable: no backend available in pool ", 0), 0u)
      << result.at("body");
  EXPECT_EQ(result.at("retry_after"), "1");
}

TEST(Http2, ABackendDyingMidBodyResetsTheStream) {
  TestBackend backend;
  backend.set_reply(Reply::close_mid_body(100'000, 1000));
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("get", keel.address());
  EXPECT_EQ(result.at("status"), "200");
  EXPECT_EQ(result.at("reset"), "2");  // INTERNAL_ERROR: a cut body is not taken for a whole one
}

TEST(Http2, AStalledUploadGets408AfterTheIdleTimeout) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}, "timeouts:\n  idle: 1s\n"));
  const auto result = h2_client("stalled_upload", keel.address(), "1000");
  EXPECT_EQ(result.at("status"), "408");
  EXPECT_GE(std::stod(result.at("after")), 0.9);
}

TEST(Http2, ConnectionSpecificHeaderResetsOnlyItsStream) {
  TestBackend backend;
  KeelUnderTest keel(single_pool_config({backend.address()}));
  const auto result = h2_client("bad_header", keel.address(), "connection");
  EXPECT_EQ(result.at("reset"), "1");  // PROTOCOL_ERROR
  EXPECT_EQ(result.at("good"), "200");
  EXPECT_EQ(backend.request_count(), 1u);
}

// nginx answers plain HTTP on an HTTPS port with a 400 in plain HTTP.
TEST(Http2, PlainHttpToATlsListenerGets400) {
  TestBackend backend;
  const std::string dir = ::testing::TempDir() + "keel-h2-tls-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const CertificateFiles files = TestCertificateAuthority().issue(dir, "server", {"localhost"});
  const std::string yaml = "workers: 1\nlisteners:\n  - address: 127.0.0.1:0\n    tls: { certificate: \"" +
                           files.certificate + "\", private_key: \"" + files.private_key + "\" }\n"
                           "pools:\n  - name: web\n    backends:\n      - { address: \"" + backend.address() + "\" }\n";
  KeelUnderTest keel(yaml);
  const auto run = run_client("/usr/bin/curl", {"-sS", "-i", "http://" + keel.address() + "/"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << run.out;
  EXPECT_NE(run.out.find("plain HTTP request sent to an HTTPS port"), std::string::npos) << run.out;
  EXPECT_EQ(backend.request_count(), 0u);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

// A TLS listener for the tests below: certificates for "localhost" issued by a
// CA the clients are told to trust; removed at the end.
class TlsListener {
 public:
  explicit TlsListener(const std::string& backend, bool http2 = true)
      : dir_(::testing::TempDir() + "keel-h2-alpn-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++)) {
    std::filesystem::create_directories(dir_);
    TestCertificateAuthority ca;
    ca.write_certificate(dir_ + "/ca.crt");
    const CertificateFiles files = ca.issue(dir_, "server", {"localhost"});
    keel_.emplace("workers: 1\nlisteners:\n  - address: 127.0.0.1:0\n    http2: " + std::string(http2 ? "true" : "false") +
                  "\n    tls: { certificate: \"" + files.certificate + "\", private_key: \"" + files.private_key +
                  "\" }\npools:\n  - name: web\n    backends:\n      - { address: \"" + backend + "\" }\n");
  }
  ~TlsListener() {
    keel_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string url(const std::string& path) const {
    return "https://localhost:" + keel_->address().substr(keel_->address().rfind(':') + 1) + path;
  }
  std::string ip_url(const std::string& path) const { return "https://" + keel_->address() + path; }
  std::string ca() const { return dir_ + "/ca.crt"; }
  std::string resolve() const {
    return "localhost:" + keel_->address().substr(keel_->address().rfind(':') + 1) + ":127.0.0.1";
  }

 private:
  static inline int counter_ = 0;
  std::string dir_;
  std::optional<KeelUnderTest> keel_;
};

TEST(Http2, TlsAlpnChoosesH2ForClientsThatOfferIt) {
  TestBackend backend;
  TlsListener tls(backend.address());
  const auto h2 = run_client("/usr/bin/curl", {"-sS", "--http2", "--cacert", tls.ca(), "--resolve", tls.resolve(),
                                                "-w", "\n%{http_version} %{http_code}", tls.url("/alpn")});
  ASSERT_EQ(h2.exit_code, 0) << h2.err;
  EXPECT_EQ(h2.out, "ok from backend\n2 200");
  const auto seen = backend.next_request(5s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("X-Forwarded-Proto"), "https");
  // A client that offers only http/1.1 gets it, on the same listener.
  const auto h1 = run_client("/usr/bin/curl", {"-sS", "--http1.1", "--cacert", tls.ca(), "--resolve", tls.resolve(),
                                                "-w", "\n%{http_version} %{http_code}", tls.url("/alpn")});
  ASSERT_EQ(h1.exit_code, 0) << h1.err;
  EXPECT_EQ(h1.out, "ok from backend\n1.1 200");
  // nghttp over TLS, several streams (it checks no certificate).
  const auto nghttp = run_client("/usr/bin/nghttp", {"-n", "-s", tls.ip_url("/a"), tls.ip_url("/b")});
  EXPECT_EQ(nghttp.exit_code, 0) << nghttp.err << nghttp.out;
}

TEST(Http2, TlsListenerWithHttp2OffOffersOnlyHttp11) {
  TestBackend backend;
  TlsListener tls(backend.address(), false);
  const auto run = run_client("/usr/bin/curl", {"-sS", "--http2", "--cacert", tls.ca(), "--resolve", tls.resolve(),
                                                 "-o", "/dev/null", "-w", "%{http_version} %{http_code}", tls.url("/")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "1.1 200");
}

// The protocol in /metrics and in the access log.
TEST(Http2, MetricsCountConnectionsAndClientResetsAccessLogSaysHttp2) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    return request.target == "/held" ? Reply::text("held").held() : Reply::text("ok");
  });
  const std::string log_path = ::testing::TempDir() + "keel-h2-access-" + std::to_string(::getpid()) + ".log";
  KeelUnderTest keel(single_pool_config({backend.address()}, "admin:\n  address: 127.0.0.1:0\n"
                                                             "access_log:\n  path: " + log_path + "\n"));
  const auto metric = [&](const std::string& name) {
    const auto page = TestClient{keel.admin_address()}.get("/metrics").body();
    const auto at = page.find("\n" + name + " ");
    return at == std::string::npos ? std::string("absent") : page.substr(at + name.size() + 2, page.find('\n', at + 1) - at - name.size() - 2);
  };
  EXPECT_EQ(metric("keel_client_connections_http2"), "0");
  ChildProcess held("/usr/bin/python3", {h2_client_script(), "held", keel.address(), "/held"});
  ASSERT_TRUE(held.wait_for_line("sent"));
  ASSERT_TRUE(backend.next_request(5s));
  EXPECT_EQ(metric("keel_client_connections_http2"), "1");
  backend.release();
  EXPECT_EQ(held.wait_for_line("status"), "status 200");
  EXPECT_EQ(h2_client("resets", keel.address(), "3").at("status"), "200");
  EXPECT_EQ(metric("keel_http2_client_resets_total"), "3");
  EXPECT_TRUE(wait_until([&] { return metric("keel_client_connections_http2") == "0"; }, 10s));
  std::string log;
  EXPECT_TRUE(wait_until([&] {
    std::ifstream file(log_path);
    log.assign(std::istreambuf_iterator<char>(file), {});
    return log.find("\"GET /last HTTP/2.0\" 200") != std::string::npos;
  }, 5s)) << log;
  EXPECT_NE(log.find("\"GET /held HTTP/2.0\" 200"), std::string::npos) << log;
  std::remove(log_path.c_str());
}

// A reload (SIGHUP to the keel binary) while an HTTP/2 connection is open:
// the connection stays, and its next stream goes by the new configuration.
TEST(Http2, AReloadKeepsAnOpenConnectionAndItsNextStreamUsesTheNewPool) {
  TestBackend a{"a"}, b{"b"};
  TempConfig config(single_pool_config({a.address()}));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  const auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line) << keel.output(ChildProcess::Output::err);
  ChildProcess client("/usr/bin/python3", {h2_client_script(), "get_across_signal", *listening_address(*line)});
  ASSERT_TRUE(client.wait_for_line("first ", 10s)) << client.output(ChildProcess::Output::err);
  std::ofstream(config.path()) << single_pool_config({b.address()});
  ASSERT_TRUE(keel.signal(SIGHUP));
  ASSERT_TRUE(wait_until(
      [&] { return keel.output(ChildProcess::Output::err).find("applied (snapshot") != std::string::npos; }, 10s))
      << keel.output(ChildProcess::Output::err);
  ASSERT_TRUE(client.signal(SIGUSR1));
  ASSERT_EQ(client.wait_exit(10s), 0) << client.output(ChildProcess::Output::err);
  const std::string out = client.output();
  EXPECT_NE(out.find("first 200 ok from a\n"), std::string::npos) << out;
  EXPECT_NE(out.find("second 200 ok from b\n"), std::string::npos) << out;
  EXPECT_NE(out.find("closed False"), std::string::npos) << out;
}

// SIGTERM (Proxy::stop, which the signal handler calls): GOAWAY at once, the
// open stream still gets its response, then the connection closes. nghttp
// (python3-h2 drops every frame after a GOAWAY, graceful or not).
TEST(Http2, StopSendsGoawayAndOpenStreamsFinish) {
  TestBackend backend;
  backend.set_reply(Reply::text("late answer").held());
  KeelUnderTest keel(single_pool_config({backend.address()}, "timeouts:\n  shutdown: 10s\n"));
  ChildProcess client("/usr/bin/nghttp", {"-v", "http://" + keel.address() + "/held"});
  ASSERT_TRUE(backend.next_request(5s));
  keel.proxy().stop(10'000ms);
  ASSERT_TRUE(client.wait_for_line("[", 5s));  // some frame line; the GOAWAY below is awaited by its text
  ASSERT_TRUE(wait_until([&] { return client.output().find("recv GOAWAY") != std::string::npos; }, 5s))
      << client.output();
  backend.release();
  EXPECT_EQ(client.wait_exit(10s), 0) << client.output() << client.output(ChildProcess::Output::err);
  const std::string out = client.output();
  EXPECT_NE(out.find("error_code=NO_ERROR"), std::string::npos) << out;
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  EXPECT_NE(out.find("late answer"), std::string::npos) << out;
  EXPECT_LT(out.find("recv GOAWAY"), out.find(":status: 200")) << out;  // the GOAWAY came first
}

}  // namespace
}  // namespace keel::test
