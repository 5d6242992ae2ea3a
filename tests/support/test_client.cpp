#include "tests/support/test_client.hpp"

#include "proxy/http/address_text.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cerrno>
#include <charconv>

#include <sys/socket.h>

namespace keel::test {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::uint32_t kHeaderLimit = 1024 * 1024;

// The ways a read or write learns that the server closed the connection.
bool is_closed_error(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == http::error::end_of_stream ||
         ec == http::error::partial_message;
}

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

std::optional<HostPort> split_address(std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (address.starts_with('[')) {
    const auto close = address.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) return std::nullopt;
  return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

// A response with a finished parser's message, or the error that stopped it.
template <class Message>
TestResponse make_response(Message&& message) {
  TestResponse response;
  static_cast<http::response<http::string_body>&>(response) = std::forward<Message>(message);
  return response;
}

}  // namespace

TestClient::TestClient() = default;

TestClient::TestClient(std::string_view address, std::chrono::milliseconds deadline) {
  connect(address, deadline);
}

TestClient::~TestClient() { close(); }

// Starts the async operation `start(handler)` and runs the private io_context until it
// completes or the deadline passes; then cancels it (or closes the socket, for writes and
// connects, where a half-done operation leaves the stream unusable) and reports timeout.
template <class Start>
beast::error_code TestClient::run(Start start, std::chrono::milliseconds deadline,
                                  bool close_on_timeout) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc_.restart();
  ioc_.run_for(deadline);
  if (!result) {
    beast::error_code ignored;
    if (close_on_timeout)
      socket_.close(ignored);
    else
      socket_.cancel(ignored);
    ioc_.restart();
    ioc_.run();  // the cancelled operation completes here
    if (!result || *result == asio::error::operation_aborted) result = beast::error::timeout;
  }
  if (is_closed_error(*result)) peer_closed_ = true;
  return *result;
}

beast::error_code TestClient::connect(std::string_view address, std::chrono::milliseconds deadline) {
  close();
  address_ = address;
  connect_error_ = {};
  const auto parts = split_address(address);
  if (!parts) return connect_error_ = asio::error::invalid_argument;
  beast::error_code ec;
  auto ip = asio::ip::make_address(parts->host, ec);
  if (ec) {  // a name such as localhost
    tcp::resolver resolver(ioc_);
    const auto results = resolver.resolve(parts->host, std::to_string(parts->port), ec);
    if (ec) return connect_error_ = ec;
    ip = results.begin()->endpoint().address();
    for (const auto& result : results) {  // servers under test listen on 127.0.0.1
      if (result.endpoint().address().is_v4()) {
        ip = result.endpoint().address();
        break;
      }
    }
  }
  const tcp::endpoint endpoint(ip, parts->port);
  ec = run([&](auto handler) { socket_.async_connect(endpoint, std::move(handler)); }, deadline,
           true);
  if (ec) {
    beast::error_code ignored;
    socket_.close(ignored);
    return connect_error_ = ec;
  }
  socket_.set_option(tcp::no_delay(true), ec);
  peer_closed_ = false;
  return {};
}

beast::error_code TestClient::reconnect(std::chrono::milliseconds deadline) {
  const std::string address = address_;
  return connect(address, deadline);
}

void TestClient::close() {
  beast::error_code ignored;
  socket_.close(ignored);
  buffer_.clear();
  parser_.reset();
  peer_closed_ = false;
}

void TestClient::shutdown_send() {
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

bool TestClient::is_open() {
  if (!socket_.is_open() || peer_closed_) return false;
  // Take in whatever has arrived without blocking, so a FIN behind unread bytes shows.
  for (;;) {
    auto space = buffer_.prepare(kReadSize);
    const auto n = ::recv(socket_.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
    if (n > 0) {
      buffer_.commit(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    peer_closed_ = true;  // 0: FIN; any other error: reset or worse
    return false;
  }
}

bool TestClient::wait_closed(std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  while (is_open()) {
    const auto ec = read_more(until.remaining());
    if (ec == beast::error::timeout) return false;
    if (ec && !peer_closed_) return true;  // some other failure: the connection is gone too
  }
  return true;
}

std::string TestClient::local_address() const {
  beast::error_code ec;
  const auto endpoint = socket_.local_endpoint(ec);
  if (ec) return {};
  return keel::http::endpoint_text(endpoint);
}

TestResponse TestClient::failure(beast::error_code ec) const {
  TestResponse response;
  response.result(http::status::unknown);
  response.ec = ec;
  return response;
}

TestResponse TestClient::request(std::string_view method, std::string_view target,
                                 const Headers& headers, std::string body,
                                 std::chrono::milliseconds deadline) {
  http::request<http::string_body> message;
  if (const auto verb = http::string_to_verb(method); verb != http::verb::unknown)
    message.method(verb);
  else
    message.method_string(method);
  message.target(target);
  message.version(11);
  for (const auto& [name, value] : headers) message.insert(name, value);
  if (message.count(http::field::host) == 0) message.set(http::field::host, address_);
  message.body() = std::move(body);
  if (message.count(http::field::content_length) == 0 &&
      message.count(http::field::transfer_encoding) == 0)
    message.prepare_payload();
  return send(message, deadline);
}

TestResponse TestClient::get(std::string_view target, const Headers& headers,
                             std::chrono::milliseconds deadline) {
  return request("GET", target, headers, {}, deadline);
}

TestResponse TestClient::send(const http::request<http::string_body>& message,
                              std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  if (const auto ec = write_request(message, until.remaining())) return failure(ec);
  return read_response(until.remaining(), message.method() == http::verb::head);
}

beast::error_code TestClient::write_request(const http::request<http::string_body>& message,
                                            std::chrono::milliseconds deadline) {
  if (!socket_.is_open()) return connect_error_ ? connect_error_ : asio::error::not_connected;
  return run([&](auto handler) { http::async_write(socket_, message, std::move(handler)); },
             deadline, true);
}

TestResponse TestClient::read_response(std::chrono::milliseconds deadline, bool head_request) {
  if (!socket_.is_open()) return failure(connect_error_ ? connect_error_ : asio::error::not_connected);
  const Deadline until(deadline);
  for (;;) {
    http::response_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    parser.skip(head_request);
    const auto ec = run(
        [&](auto handler) { http::async_read(socket_, buffer_, parser, std::move(handler)); },
        until.remaining(), false);
    if (ec) return failure(ec);
    // Interim answers (100 Continue, 103 Early Hints) precede the real one; 101 is final.
    const auto code = parser.get().result_int();
    if (code >= 100 && code < 200 && code != 101) continue;
    return make_response(parser.release());
  }
}

void TestClient::prepare_parser(bool head_request) {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(boost::none);
  parser_->skip(head_request);
}

TestResponse TestClient::read_head(std::chrono::milliseconds deadline, bool head_request) {
  if (!socket_.is_open()) return failure(connect_error_ ? connect_error_ : asio::error::not_connected);
  prepare_parser(head_request);
  const auto ec = run(
      [&](auto handler) { http::async_read_header(socket_, buffer_, *parser_, std::move(handler)); },
      deadline, false);
  if (ec) {
    parser_.reset();
    return failure(ec);
  }
  TestResponse response;
  response.base() = parser_->get().base();
  if (parser_->is_done()) parser_.reset();
  return response;
}

BodyPiece TestClient::read_body_piece(std::chrono::milliseconds deadline) {
  BodyPiece piece;
  if (!parser_) {  // no head read, or its body is already complete
    piece.done = true;
    return piece;
  }
  const Deadline until(deadline);
  std::array<char, kReadSize> storage;
  while (!parser_->is_done()) {
    auto& body = parser_->get().body();
    body.data = storage.data();
    body.size = storage.size();
    auto ec = run(
        [&](auto handler) { http::async_read_some(socket_, buffer_, *parser_, std::move(handler)); },
        until.remaining(), false);
    if (ec == http::error::need_buffer) ec = {};  // storage is full: a piece is ready
    piece.data.append(storage.data(), storage.size() - body.size);
    if (ec) {
      piece.ec = ec;
      break;
    }
    if (!piece.data.empty()) break;
  }
  if (!piece.ec && parser_->is_done()) {
    piece.done = true;
    parser_.reset();
  }
  return piece;
}

BodyPiece TestClient::read_body_rest(std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  BodyPiece all;
  while (!all.done && !all.ec) {
    auto piece = read_body_piece(until.remaining());
    all.data += piece.data;
    all.ec = piece.ec;
    all.done = piece.done;
  }
  return all;
}

beast::error_code TestClient::send_raw(std::string_view bytes, std::chrono::milliseconds deadline) {
  if (!socket_.is_open()) return connect_error_ ? connect_error_ : asio::error::not_connected;
  return run(
      [&](auto handler) { asio::async_write(socket_, asio::buffer(bytes), std::move(handler)); },
      deadline, true);
}

beast::error_code TestClient::read_more(std::chrono::milliseconds deadline) {
  if (!socket_.is_open()) return asio::error::not_connected;
  std::size_t got = 0;
  const auto ec = run(
      [&](auto handler) {
        socket_.async_read_some(buffer_.prepare(kReadSize),
                                [&got, handler = std::move(handler)](beast::error_code e,
                                                                     std::size_t n) mutable {
                                  got = n;
                                  handler(e);
                                });
      },
      deadline, false);
  buffer_.commit(got);
  return ec;
}

RawRead TestClient::read_raw_until_close_or(std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  RawRead out;
  while (!peer_closed_ && !out.ec) out.ec = read_more(until.remaining());
  if (peer_closed_) out.ec = {};
  out.closed = peer_closed_;
  out.data = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  return out;
}

RawRead TestClient::read_raw_until(std::string_view delimiter, std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  RawRead out;
  for (;;) {
    const std::string_view seen(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (const auto at = seen.find(delimiter); at != std::string_view::npos) {
      out.data = seen.substr(0, at + delimiter.size());
      buffer_.consume(out.data.size());
      return out;
    }
    if (peer_closed_ || out.ec) break;
    out.ec = read_more(until.remaining());
  }
  if (peer_closed_) out.ec = {};
  out.closed = peer_closed_;
  out.data = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  return out;
}

RawRead TestClient::read_raw_exactly(std::size_t size, std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  RawRead out;
  while (buffer_.size() < size && !peer_closed_ && !out.ec) out.ec = read_more(until.remaining());
  const auto take = std::min(size, buffer_.size());
  if (take == size) out.ec = {};
  out.closed = take < size && peer_closed_;
  if (out.closed) out.ec = {};
  out.data.assign(static_cast<const char*>(buffer_.data().data()), take);
  buffer_.consume(take);
  return out;
}

}  // namespace keel::test
