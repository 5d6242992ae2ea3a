#include "proxy/admin/admin_server.hpp"

#include "proxy/admin/admin_routes.hpp"
#include "proxy/admin/json_codec.hpp"
#include "proxy/http/address_text.hpp"
#include "proxy/log/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/crypto.h>

#include <array>
#include <exception>
#include <list>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace keel::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 4096;
// After refusing a request, how long unread request bytes are drained before closing,
// so the kernel does not answer them with a reset that destroys the refusal in flight.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// After a failed accept (e.g. out of file descriptors), so the loop does not spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// The peer went away, or the server closed the stream: nothing to answer.
bool is_silent_end(const beast::error_code& ec) {
  return ec == beast_http::error::end_of_stream || ec == beast_http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::bad_descriptor || ec == beast::error::timeout;
}

}  // namespace

struct AdminServer::State {
  State(asio::io_context& control, std::string_view token, PoolAdmin& admin, AdminLimits limits)
      : control(control), acceptor(control), routes(token), admin(admin), limits(limits), wake_acceptor(control) {}

  class Connection;

  // The accept loop; holds `state` so it may outlive the AdminServer.
  static asio::awaitable<void> accept(std::shared_ptr<State> state);

  asio::io_context& control;
  tcp::acceptor acceptor;
  const AdminRoutes routes;
  PoolAdmin& admin;
  const AdminLimits limits;
  std::list<Connection*> connections;
  asio::steady_timer wake_acceptor;  // a paused or backing-off accept loop waits on it
  bool started = false;
  bool stopped = false;
};

// One admin connection. Owned by its coroutine; registered with the state so that
// stop() can close it and the accept loop can count it.
class AdminServer::State::Connection {
 public:
  Connection(std::shared_ptr<State> state, tcp::socket socket)
      : state_(std::move(state)), stream_(std::move(socket)) {
    state_->connections.push_front(this);
    slot_ = state_->connections.begin();
  }

  ~Connection() {
    state_->connections.erase(slot_);
    if (!state_->stopped) state_->wake_acceptor.cancel();
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() { stream_.close(); }

  // Serves `connection` until it closes; no exception escapes.
  static asio::awaitable<void> run(std::unique_ptr<Connection> connection);

 private:
  asio::awaitable<void> serve();

  using Request = beast_http::request<beast_http::string_body>;
  using Parser = beast_http::request_parser<beast_http::string_body>;

  // After the header: the 401 for a request without a valid token where one is
  // needed, else nullopt.
  std::optional<AdminResponse> unauthorized(const Parser& parser) const;
  // For a body that will not be read whole (past the limit): 401 for a request that
  // would be refused anyway, so size never answers before the token; else 413.
  AdminResponse body_refusal(const Parser& parser) const;
  asio::awaitable<void> answer(const Request& request, bool& keep_alive);
  // Answers a request whose body is not read (401, 413) or that could not be read
  // (400, 413, 431), and closes.
  asio::awaitable<void> refuse(const AdminResponse& response, unsigned version);
  // A deferred change's outcome (cluster mode).
  asio::awaitable<Outcome> wait_for(std::shared_ptr<PendingChange> change);
  asio::awaitable<bool> write(unsigned version, int status, std::string_view content_type, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers, bool keep_alive,
                              bool head_request);
  asio::awaitable<void> linger_and_close();

  std::shared_ptr<State> state_;
  std::list<Connection*>::iterator slot_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

asio::awaitable<void> AdminServer::State::Connection::serve() {
  const AdminLimits& limits = state_->limits;
  for (;;) {
    if (buffer_.size() == 0) {
      stream_.expires_after(limits.idle_timeout);
      auto [ec, read] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), nothrow);
      if (ec || state_->stopped) co_return;
      buffer_.commit(read);
    }
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    // None while the header is read: Beast checks Content-Length against the limit the
    // moment the header ends, which would answer 413 before the token is checked
    // (body_refusal). Set below, before the first body byte.
    parser.body_limit(boost::none);
    stream_.expires_after(limits.read_timeout);
    auto [ec, ignored] = co_await beast_http::async_read_header(stream_, buffer_, parser, nothrow);
    if (state_->stopped) co_return;
    if (!ec && !parser.is_done()) {
      const auto length = parser.content_length();
      const bool expects_continue = beast::iequals(parser.get()[beast_http::field::expect], "100-continue");
      // A body within the limit is read even when the answer will be 401, so that the
      // connection stays usable; one past it, or one only sent after a 100, is not.
      if ((length && *length > limits.max_body_bytes) || (expects_continue && unauthorized(parser))) {
        const AdminResponse response = body_refusal(parser);
        co_await refuse(response, parser.get().version());
        co_return;
      }
      parser.body_limit(limits.max_body_bytes);
      if (expects_continue) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [write_ec, written] = co_await asio::async_write(stream_, asio::buffer(kContinue), nothrow);
        if (write_ec || state_->stopped) co_return;
      }
      std::tie(ec, ignored) = co_await beast_http::async_read(stream_, buffer_, parser, nothrow);
      if (state_->stopped) co_return;
    }
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    if (ec && is_silent_end(ec)) co_return;
    if (ec) {
      std::string message = "malformed HTTP request";
      int status = 400;
      if (ec == beast_http::error::body_limit) {
        const AdminResponse response = body_refusal(parser);
        co_await refuse(response, version);
        co_return;
      }
      if (ec == beast_http::error::header_limit) {
        status = 431;
        message = "request header larger than " + std::to_string(limits.max_header_bytes) + " bytes";
      }
      const AdminResponse response{.status = status, .body = error_json(message)};
      co_await refuse(response, version);
      co_return;
    }

    bool keep_alive = parser.get().keep_alive();
    co_await answer(parser.get(), keep_alive);
    if (!keep_alive || state_->stopped) co_return;
  }
}

std::optional<AdminResponse> AdminServer::State::Connection::unauthorized(const Parser& parser) const {
  const Request& request = parser.get();
  AdminRequest head{.method = request.method_string(), .target = request.target()};
  if (const auto field = request.find(beast_http::field::authorization); field != request.end())
    head.authorization = field->value();
  return state_->routes.refuse_unauthorized(head);
}

AdminResponse AdminServer::State::Connection::body_refusal(const Parser& parser) const {
  if (auto refused = unauthorized(parser)) return std::move(*refused);
  const std::uint64_t limit = state_->limits.max_body_bytes;
  return AdminResponse{.status = 413,
                       .body = error_json("request body larger than " + std::to_string(limit) + " bytes")};
}

asio::awaitable<void> AdminServer::State::Connection::answer(const Request& request, bool& keep_alive) {
  AdminRequest admin_request{
      .method = request.method_string(),
      .target = request.target(),
      .body = request.body(),
  };
  if (const auto field = request.find(beast_http::field::authorization); field != request.end())
    admin_request.authorization = field->value();
  AdminResponse response;
  try {
    response = state_->routes.handle(admin_request, state_->admin);
  } catch (const std::exception& e) {
    log::error("admin: " + std::string(request.method_string()) + " " + std::string(request.target()) +
               " failed: " + e.what());
    response = AdminResponse{.status = 500, .body = error_json("internal error")};
  }
  if (response.deferred) {
    const DeferredAnswer deferred = std::move(*response.deferred);
    const Outcome outcome = co_await wait_for(deferred.change);
    response = state_->routes.complete(deferred, outcome, state_->admin);
  }
  const bool head_request = request.method() == beast_http::verb::head;
  // No conditional expression yielding a temporary here: GCC 12 coroutines mishandle them.
  std::string_view content_type = "application/json";
  std::string body;
  if (response.text) {
    content_type = response.content_type;
    body = std::move(*response.text);
  } else {
    body = json_text(response.body);
    body += '\n';
  }
  const bool written = co_await write(request.version(), response.status, content_type, body,
                                      response.headers, keep_alive, head_request);
  if (!written || !keep_alive) {
    keep_alive = false;
    stream_.close();
  }
}

// The timer is the coroutine's wake-up: the change's callback records the
// outcome and cancels it. Shared, so a late callback finds it alive.
asio::awaitable<Outcome> AdminServer::State::Connection::wait_for(std::shared_ptr<PendingChange> change) {
  struct Waiting {
    explicit Waiting(asio::io_context& io) : timer(io, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    std::optional<Outcome> outcome;
  };
  auto waiting = std::make_shared<Waiting>(state_->control);
  change->when_done([waiting](Outcome outcome) {
    waiting->outcome = std::move(outcome);
    waiting->timer.cancel();
  });
  while (!waiting->outcome) {
    co_await waiting->timer.async_wait(nothrow);  // cancelled by the change, or by nothing
    if (!waiting->outcome && state_->stopped) co_return Outcome{.status = 503, .error = "keel is stopping"};
  }
  co_return std::move(*waiting->outcome);
}

asio::awaitable<bool> AdminServer::State::Connection::write(
    unsigned version, int status, std::string_view content_type, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, bool keep_alive, bool head_request) {
  beast_http::response<beast_http::string_body> response;
  response.version(version);
  response.result(static_cast<unsigned>(status));
  response.set(beast_http::field::content_type, content_type);
  response.set(beast_http::field::cache_control, "no-store");
  for (const auto& [name, value] : headers) response.set(name, value);
  response.body() = body;
  response.keep_alive(keep_alive);
  response.prepare_payload();
  if (head_request) response.body().clear();  // Content-Length stays that of the GET answer
  stream_.expires_after(state_->limits.read_timeout);
  auto [ec, written] = co_await beast_http::async_write(stream_, response, nothrow);
  co_return !ec && !state_->stopped;
}

// Arguments are named locals, not temporaries: GCC 12 miscompiles a temporary with a
// destructor (here a json::value, a vector) passed to a coroutine in a co_await
// expression; the frame was resumed broken (SIGILL).
asio::awaitable<void> AdminServer::State::Connection::refuse(const AdminResponse& response, unsigned version) {
  std::string body = json_text(response.body);
  body += '\n';
  const bool written =
      co_await write(version, response.status, "application/json", body, response.headers, false, false);
  if (written) co_await linger_and_close();
}

asio::awaitable<void> AdminServer::State::Connection::linger_and_close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(kLingerTimeout);
  std::array<char, kReadChunk> discard;
  for (;;) {
    auto [ec, read] = co_await stream_.async_read_some(asio::buffer(discard), nothrow);
    if (ec || state_->stopped) break;
  }
  stream_.close();
}

asio::awaitable<void> AdminServer::State::Connection::run(std::unique_ptr<Connection> connection) {
  try {
    co_await connection->serve();
  } catch (const std::exception& e) {
    log::error(std::string("admin: connection failed: ") + e.what());
  }
}

asio::awaitable<void> AdminServer::State::accept(std::shared_ptr<State> state) {
  for (;;) {
    while (!state->stopped && state->connections.size() >= state->limits.max_connections) {
      state->wake_acceptor.expires_at(asio::steady_timer::time_point::max());
      co_await state->wake_acceptor.async_wait(nothrow);
    }
    if (state->stopped) co_return;
    auto [ec, socket] = co_await state->acceptor.async_accept(nothrow);
    if (state->stopped) co_return;
    if (ec) {
      log::warn("admin: accept failed: " + ec.message());
      state->wake_acceptor.expires_after(kAcceptRetryDelay);
      co_await state->wake_acceptor.async_wait(nothrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto connection = std::make_unique<Connection>(state, std::move(socket));
    asio::co_spawn(state->control, Connection::run(std::move(connection)), asio::detached);
  }
}

AdminServer::AdminServer(asio::io_context& control, const tcp::endpoint& endpoint, std::string token,
                         PoolAdmin& admin, AdminLimits limits)
    : state_(std::make_shared<State>(control, token, admin, limits)) {
  OPENSSL_cleanse(token.data(), token.size());  // only its digest is kept (BearerAuth)
  tcp::acceptor& acceptor = state_->acceptor;
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) endpoint_ = acceptor.local_endpoint(ec);
  if (ec) throw std::runtime_error("cannot listen on " + http::endpoint_text(endpoint) + ": " + ec.message());
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  if (state_->started || state_->stopped) return;
  state_->started = true;
  asio::co_spawn(state_->control, State::accept(state_), asio::detached);
}

void AdminServer::stop() {
  State& state = *state_;
  if (state.stopped) return;
  state.stopped = true;
  beast::error_code ignored;
  state.acceptor.close(ignored);
  state.wake_acceptor.cancel();
  // Completions are queued, never run inline, so the list does not change under us.
  for (State::Connection* connection : state.connections) connection->close();
}

}  // namespace keel::admin
