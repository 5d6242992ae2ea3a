#include "proxy/control/webhook_sender.hpp"

#include "proxy/log/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

namespace keel::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct WebhookSender::State {
  State(asio::io_context& io, config::Autoscale::Webhook target, std::string pool, WebhookPolicy policy)
      : io(io), target(std::move(target)), pool(std::move(pool)), policy(policy), backoff_timer(io) {}

  asio::io_context& io;
  config::Autoscale::Webhook target;
  std::string pool;
  WebhookPolicy policy;
  asio::steady_timer backoff_timer;
  std::optional<std::string> pending;  // the newest body not yet delivered
  bool running = false;
  bool stopped = false;
};

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// One POST. Empty on success (2xx), else why it failed, for the log.
asio::awaitable<std::string> post_once(std::shared_ptr<WebhookSender::State> state, std::string body) {
  beast::tcp_stream stream(state->io);
  stream.expires_after(state->policy.attempt_timeout);
  auto [ec] = co_await stream.async_connect(state->target.address.endpoint, use_nothrow);
  if (ec) co_return ec == beast::error::timeout ? "connect timed out" : "connect failed: " + ec.message();
  http::request<http::string_body> request{http::verb::post, state->target.target, 11};
  request.set(http::field::host, state->target.host);
  request.set(http::field::user_agent, "keel-autoscaler");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::connection, "close");
  request.body() = std::move(body);
  request.prepare_payload();
  std::tie(ec, std::ignore) = co_await http::async_write(stream, request, use_nothrow);
  if (ec) co_return ec == beast::error::timeout ? "timed out" : "write failed: " + ec.message();
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(boost::none);  // only the status matters
  std::tie(ec, std::ignore) = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  if (ec) co_return ec == beast::error::timeout ? "timed out waiting for the response" : "read failed: " + ec.message();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  const unsigned status = parser.get().result_int();
  if (status < 200 || status > 299) co_return "answered " + std::to_string(status);
  co_return std::string();
}

asio::awaitable<void> deliver(std::shared_ptr<WebhookSender::State> state) {
  while (!state->stopped && state->pending) {
    std::string body = std::move(*state->pending);
    state->pending.reset();
    auto backoff = state->policy.first_backoff;
    for (int attempt = 1;; ++attempt) {
      std::string copy = body;
      const std::string problem = co_await post_once(state, std::move(copy));
      if (state->stopped) co_return;
      if (problem.empty()) break;
      if (state->pending) break;  // superseded: send the newer one instead
      if (attempt >= state->policy.max_attempts) {
        log::error("pool " + state->pool + ": autoscale webhook " + state->target.url + " " + problem +
                   "; gave up after " + std::to_string(attempt) + " attempts");
        break;
      }
      if (attempt == 1)
        log::warn("pool " + state->pool + ": autoscale webhook " + state->target.url + " " + problem +
                  "; retrying with backoff");
      state->backoff_timer.expires_after(backoff);
      co_await state->backoff_timer.async_wait(use_nothrow);  // send() cancels it for a newer body
      if (state->stopped) co_return;
      if (state->pending) break;
      backoff = std::min(backoff * 2, state->policy.max_backoff);
    }
  }
  state->running = false;
}

}  // namespace

WebhookSender::WebhookSender(asio::io_context& io, config::Autoscale::Webhook target, std::string pool,
                             WebhookPolicy policy)
    : state_(std::make_shared<State>(io, std::move(target), std::move(pool), policy)) {}

WebhookSender::~WebhookSender() {
  state_->stopped = true;
  state_->pending.reset();
  state_->backoff_timer.cancel();
}

const config::Autoscale::Webhook& WebhookSender::target() const { return state_->target; }

void WebhookSender::send(std::string json_body) {
  state_->pending = std::move(json_body);
  if (state_->running) {
    state_->backoff_timer.cancel();  // a retry wait ends now; an attempt in flight finishes first
    return;
  }
  state_->running = true;
  asio::co_spawn(state_->io, deliver(state_), [state = state_](std::exception_ptr error) {
    // Only allocation can throw in there; keep the sender usable.
    if (error) state->running = false;
  });
}

}  // namespace keel::control
