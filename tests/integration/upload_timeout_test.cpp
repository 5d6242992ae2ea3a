// Stalled uploads: a client that announces a body and stops sending it is timed
// out on its own side (timeouts.idle between two reads, like nginx's
// client_body_timeout) and gets 408: its fault, not the backend's (no 504, no
// passive-check failure). The backend connection that carried the partial
// request is closed, never reused.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace keel::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kIdle = std::chrono::milliseconds(1000);

// Idle short enough for a test, every other timeout far longer, so the answer
// shows which one fired. Passive checks eject on the first failure: a 504
// counted against the backend would show as 502s afterwards.
std::string stall_config(const std::string& backend) {
  std::string yaml = single_pool_config(
      {backend}, "timeouts:\n  idle: 1s\n  client_header: 20s\n  upstream_header: 20s\n");
  yaml.insert(yaml.find("    backends:"), "    passive: { max_fails: 1, fail_timeout: 30s }\n");
  return yaml;
}

// Sends `partial` (a head announcing more body than follows) and checks the
// whole story: the backend got the request head, the client gets 408 after
// about timeouts.idle and is closed, the backend sees its connection closed, and
// the next request reaches the same backend on a fresh connection.
void expect_stalled_upload_is_408(const std::string& partial) {
  TestBackend backend;
  KeelUnderTest keel{stall_config(backend.address())};
  TestClient client{keel.address()};
  const auto sent_at = Clock::now();
  ASSERT_FALSE(client.send_raw(partial));
  ASSERT_TRUE(backend.next_request_head(kDefaultDeadline)) << "the request never reached the backend";
  EXPECT_EQ(backend.open_connection_count(), 1u);

  const auto raw = client.read_raw_until_close_or(kDefaultDeadline);
  const auto elapsed = Clock::now() - sent_at;
  EXPECT_EQ(raw.data.substr(0, 12), "HTTP/1.1 408") << raw.data;
  EXPECT_NE(raw.data.find("Connection: close"), std::string::npos) << raw.data;
  EXPECT_TRUE(raw.closed) << "the client connection must close after a 408";
  EXPECT_GE(elapsed, kIdle - std::chrono::milliseconds(100));  // not before the client timeout

  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, kDefaultDeadline))
      << "keel kept the connection with the partial request open";
  EXPECT_EQ(backend.request_count(), 0u);  // it never saw a complete request

  // Not ejected (no passive failure), and not served on the poisoned connection.
  TestClient next{keel.address()};
  const auto response = next.get("/after");
  EXPECT_EQ(response.result_int(), 200) << response.ec.message();
  const auto seen = backend.next_request(kDefaultDeadline);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->target, "/after");
  EXPECT_EQ(backend.connection_count(), 2u);
}

TEST(StalledUpload, ContentLengthNotReachedIs408AndTheBackendConnectionIsClosed) {
  expect_stalled_upload_is_408("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a few bytes");
}

TEST(StalledUpload, HugeChunkNeverSentIs408AndTheBackendConnectionIsClosed) {
  expect_stalled_upload_is_408(
      "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nsome bytes");
}

TEST(StalledUpload, UploadThatKeepsComingWithinTheIdleTimeoutIsNotCut) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) { return Reply::text(std::to_string(request.body.size())); });
  KeelUnderTest keel{stall_config(backend.address())};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\na"));
  // Three pauses of half the idle timeout, longer than it in total: the pauses are the
  // client behaviour under test (a slow, steady upload), not a wait for an event.
  for (const char* piece : {"b", "c", "d"}) {
    std::this_thread::sleep_for(kIdle / 2);
    ASSERT_FALSE(client.send_raw(piece));
  }
  const auto response = client.read_response();
  EXPECT_EQ(response.result_int(), 200) << response.ec.message();
  EXPECT_EQ(response.body(), "4");
}

// A backend that answers as soon as it has the request head: `first` at once,
// and `rest` once the other side half-closes (no more body will come), then it
// closes. TestBackend answers only complete requests, hence this one.
class EarlyAnswerBackend {
 public:
  EarlyAnswerBackend(std::string first, std::string rest)
      : acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        first_(std::move(first)),
        rest_(std::move(rest)) {
    asio::co_spawn(io_, serve(), [](std::exception_ptr) {});
    thread_ = std::thread([this] { io_.run(); });
  }
  ~EarlyAnswerBackend() {
    io_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  bool saw_half_close() const { return saw_half_close_; }

 private:
  asio::awaitable<void> serve() {
    constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
    tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
    std::string in;
    char buffer[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const std::size_t read = co_await socket.async_read_some(asio::buffer(buffer), asio::use_awaitable);
      in.append(buffer, read);
    }
    co_await asio::async_write(socket, asio::buffer(first_), asio::use_awaitable);
    for (;;) {
      auto [ec, read] = co_await socket.async_read_some(asio::buffer(buffer), nothrow);
      if (ec) {
        saw_half_close_ = ec == asio::error::eof;
        break;
      }
    }
    co_await asio::async_write(socket, asio::buffer(rest_), nothrow);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string first_;
  std::string rest_;
  std::atomic<bool> saw_half_close_{false};
  std::thread thread_;
};

TEST(StalledUpload, ResponseAlreadyStartedIsRelayedToItsEndThenTheConnectionCloses) {
  EarlyAnswerBackend backend("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "world");
  KeelUnderTest keel{stall_config(backend.address())};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a few bytes"));
  const auto raw = client.read_raw_until_close_or(kDefaultDeadline);
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(raw.data.substr(0, 12), "HTTP/1.1 200") << raw.data;
  EXPECT_NE(raw.data.find("Connection: close"), std::string::npos) << raw.data;
  EXPECT_TRUE(raw.data.ends_with("\r\n\r\nhelloworld")) << raw.data;
  EXPECT_TRUE(backend.saw_half_close()) << "the backend was not told that no more body comes";
}

}  // namespace
}  // namespace keel::test
