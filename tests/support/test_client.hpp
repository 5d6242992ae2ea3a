// TestClient: a blocking HTTP/1.1 client for integration tests.
//
// One TCP connection, kept alive across calls. Every call has a deadline and returns its
// error as a value; nothing throws. Whole exchanges (request, get), the response taken
// apart (read_head, then read_body_piece as pieces arrive), and raw bytes for hand-made
// or split requests (send_raw, read_raw_*) all share one read buffer, so they can be
// mixed on one connection, e.g. an upgrade followed by tunnel bytes.
//
//   TestClient client{keel.address()};
//   auto response = client.get("/a", {{"Host", "shop.test"}});
//   ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
//
// Not thread-safe: one test thread drives one client.
#pragma once

#include "tests/support/recorded_request.hpp"
#include "tests/support/wait.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace keel::test {

namespace http = boost::beast::http;

// A response, or why there is none: on failure `ec` is set (beast::error::timeout when
// the deadline passed) and result() is http::status::unknown (0). After read_head() the
// body is empty.
struct TestResponse : http::response<http::string_body> {
  boost::beast::error_code ec;

  bool ok() const { return !ec; }
};

// One piece of a response body as read_body_piece() saw it.
struct BodyPiece {
  boost::beast::error_code ec;
  std::string data;   // may be empty when done
  bool done = false;  // the body is complete (the response is fully read)
};

// What read_raw_*() got: `data` holds every byte read, also on timeout or close.
struct RawRead {
  boost::beast::error_code ec;  // beast::error::timeout if the deadline passed first
  std::string data;
  bool closed = false;  // the server closed (FIN or reset) the connection
};

class TestClient {
 public:
  // Not connected; call connect().
  TestClient();
  // Connects to "host:port" ("[::1]:port" for IPv6). A failure is kept and returned by the
  // next call (and by connect_error()), so `TestClient{addr}.get("/")` reads naturally.
  explicit TestClient(std::string_view address, std::chrono::milliseconds deadline = kDefaultDeadline);
  ~TestClient();

  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Closes any current connection and opens a new one.
  boost::beast::error_code connect(std::string_view address,
                                   std::chrono::milliseconds deadline = kDefaultDeadline);
  // A new connection to the last address.
  boost::beast::error_code reconnect(std::chrono::milliseconds deadline = kDefaultDeadline);
  boost::beast::error_code connect_error() const { return connect_error_; }
  void close();
  // Shuts down the sending side (FIN) and keeps reading possible: a client that finished
  // sending, as in a half-closed tunnel.
  void shutdown_send();

  // Connected and not closed by the server as far as can be seen right now (a received FIN
  // counts as closed even if response bytes are still unread). Does not block.
  bool is_open();
  // True once the server closes the connection (FIN or reset) within `deadline`. Bytes
  // that arrive meanwhile are kept for later reads.
  bool wait_closed(std::chrono::milliseconds deadline = kDefaultDeadline);
  // Local "127.0.0.1:PORT" of the connection: the peer a server records.
  std::string local_address() const;

  // Sends a request and reads the whole response. Adds Host (the connected address) unless
  // given, and Content-Length from the body unless Content-Length or Transfer-Encoding is
  // given (with "Transfer-Encoding: chunked" the body goes out as one chunk). Beast sends
  // repeated names next to each other; for an exact field order use send_raw.
  TestResponse request(std::string_view method, std::string_view target, const Headers& headers = {},
                       std::string body = {}, std::chrono::milliseconds deadline = kDefaultDeadline);
  TestResponse get(std::string_view target, const Headers& headers = {},
                   std::chrono::milliseconds deadline = kDefaultDeadline);
  // Sends `message` exactly as built (version, fields and framing are the caller's).
  TestResponse send(const http::request<http::string_body>& message,
                    std::chrono::milliseconds deadline = kDefaultDeadline);

  // The pieces of request(): write a request, then read a response. read_response also
  // reads responses to pipelined requests sent with send_raw. For a HEAD request pass
  // head_request so no body is expected.
  boost::beast::error_code write_request(const http::request<http::string_body>& message,
                                         std::chrono::milliseconds deadline = kDefaultDeadline);
  TestResponse read_response(std::chrono::milliseconds deadline = kDefaultDeadline,
                             bool head_request = false);

  // Streaming: read only the head of the next response, then its body piece by piece as
  // it arrives (each call returns as soon as some body bytes are in, or the body is done).
  TestResponse read_head(std::chrono::milliseconds deadline = kDefaultDeadline,
                         bool head_request = false);
  BodyPiece read_body_piece(std::chrono::milliseconds deadline = kDefaultDeadline);
  // The rest of the body after read_head / read_body_piece, until it is done.
  BodyPiece read_body_rest(std::chrono::milliseconds deadline = kDefaultDeadline);

  // Raw bytes, for hand-crafted (e.g. smuggling) requests; call send_raw several times to
  // split a request at chosen byte boundaries (the socket has TCP_NODELAY, so each call
  // leaves as its own segment).
  boost::beast::error_code send_raw(std::string_view bytes,
                                    std::chrono::milliseconds deadline = kDefaultDeadline);
  // Everything until the server closes, or until the deadline (then ec is timeout and the
  // connection stays usable).
  RawRead read_raw_until_close_or(std::chrono::milliseconds deadline = kDefaultDeadline);
  // Up to and including the first `delimiter` (e.g. "\r\n\r\n"); later bytes stay buffered.
  RawRead read_raw_until(std::string_view delimiter,
                         std::chrono::milliseconds deadline = kDefaultDeadline);
  // Exactly `size` bytes (fewer only on close or timeout); later bytes stay buffered.
  RawRead read_raw_exactly(std::size_t size, std::chrono::milliseconds deadline = kDefaultDeadline);

 private:
  template <class Start>
  boost::beast::error_code run(Start start, std::chrono::milliseconds deadline, bool close_on_timeout);
  boost::beast::error_code read_more(std::chrono::milliseconds deadline);
  void prepare_parser(bool head_request);
  TestResponse failure(boost::beast::error_code ec) const;

  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::socket socket_{ioc_};
  boost::beast::flat_buffer buffer_;  // bytes read but not yet consumed
  std::optional<http::response_parser<http::buffer_body>> parser_;  // the response being streamed
  std::string address_;
  boost::beast::error_code connect_error_;
  bool peer_closed_ = false;
};

}  // namespace keel::test
