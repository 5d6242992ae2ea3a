// TestBackend: a scriptable HTTP/1.1 upstream for integration tests.
//
// It listens on 127.0.0.1 (port 0 by default) and is bound before the constructor
// returns. It serves on its own thread and io_context, records every request it receives
// (queue: next_request) and answers each with the Reply its handler returns. The Reply can
// delay, stream slowly, hold until the test calls release(), break the connection
// mid-body, send no answer, send garbage, or switch protocols and echo bytes back.
//
//   TestBackend backend{"a"};
//   backend.set_handler([](const RecordedRequest& r) {
//     return r.target == "/slow" ? Reply::text("late").with_delay(200ms) : Reply::text("hi");
//   });
//   ... send traffic ...
//   auto seen = backend.next_request(2s);
//   ASSERT_TRUE(seen);
//   EXPECT_EQ(seen->at("Via"), "1.1 keel");
#pragma once

#include "tests/support/recorded_request.hpp"
#include "tests/support/reply.hpp"
#include "tests/support/wait.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace keel::test {

class TestBackend {
 public:
  // Runs on the backend's thread; must not block (return a Reply with a delay or a hold
  // instead). Exceptions from it close the connection.
  using Handler = std::function<Reply(const RecordedRequest&)>;

  // Binds 127.0.0.1:port (0: any free port; a fixed port to restart a stopped backend in
  // place) and starts serving. Throws boost::system::system_error if it cannot bind.
  explicit TestBackend(std::string name = "backend", std::uint16_t port = 0);
  ~TestBackend();  // stop()

  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  const std::string& name() const;
  std::string address() const;  // "127.0.0.1:PORT"; still valid after stop()
  std::uint16_t port() const;

  // Replaces the handler for requests completed from now on. The default answers
  // 200 "ok from <name>" (text/plain).
  void set_handler(Handler handler);
  // Every request gets a copy of `reply`.
  void set_reply(Reply reply);

  // The oldest complete request not yet taken, waiting up to `deadline` for one. A request
  // is recorded once its body is fully read, before the handler runs.
  std::optional<RecordedRequest> next_request(std::chrono::milliseconds deadline = kDefaultDeadline);
  // Same for request heads, recorded as soon as a head is parsed (body empty): shows that a
  // request reached the backend before its body was complete. A separate queue.
  std::optional<RecordedRequest> next_request_head(
      std::chrono::milliseconds deadline = kDefaultDeadline);

  std::size_t request_count() const;          // complete requests received in total
  std::size_t connection_count() const;       // TCP connections accepted in total
  std::size_t open_connection_count() const;  // accepted and not yet closed

  // Opens the gate that hold_head and hold_last_chunk replies wait at: those waiting go
  // on, and later ones pass straight through until rearm().
  void release();
  void rearm();

  // Closes every open connection now, as a restarted backend would; returns once done.
  // Keeps listening.
  void close_connections();

  // Stops listening (new connections are refused), closes every connection and joins the
  // thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::test
