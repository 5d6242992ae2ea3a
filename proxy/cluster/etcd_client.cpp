#include "proxy/cluster/etcd_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

namespace keel::cluster {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr int kUnavailable = 14;
constexpr int kUnauthenticated = 16;
constexpr int kDeadlineExceeded = 4;

EtcdReply parse_reply(const HttpReply& reply) {
  boost::system::error_code ec;
  auto value = json::parse(reply.body, ec);
  if (ec || !value.is_object())
    return EtcdReply{.result = std::nullopt,
                     .error = EtcdError{.code = -1, .message = "HTTP " + std::to_string(reply.status) +
                                                               ": not a JSON object"},
                     .unreachable = {},
                     .sent = true};
  auto& object = value.as_object();
  if (auto error = read_error(object))
    return EtcdReply{.result = std::nullopt, .error = std::move(error), .unreachable = {}, .sent = true};
  if (reply.status != 200)
    return EtcdReply{.result = std::nullopt,
                     .error = EtcdError{.code = -1, .message = "HTTP " + std::to_string(reply.status)},
                     .unreachable = {},
                     .sent = true};
  return EtcdReply{.result = std::move(object), .error = std::nullopt, .unreachable = {}, .sent = true};
}

// Outside the coroutines: GCC 12 miscompiles conditional temporaries in them.
void append_problem(std::string& problems, const std::string& url, const std::string& problem) {
  if (!problems.empty()) problems += "; ";
  problems += url + ": " + problem;
}

bool is_token_refused(const EtcdError& error) {
  return error.code == kUnauthenticated || error.message.find("invalid auth token") != std::string::npos;
}

}  // namespace

bool EtcdReply::unavailable() const {
  if (!unreachable.empty()) return true;
  if (!error) return false;
  if (error->code == kUnavailable || error->code == kDeadlineExceeded) return true;
  // Without quorum the gateway answers these with other codes.
  for (const char* text : {"request timed out", "no leader", "leader changed", "too many requests",
                           "timed out", "not capable"})
    if (error->message.find(text) != std::string::npos) return true;
  return false;
}

std::string EtcdReply::describe() const {
  if (!unreachable.empty()) return unreachable;
  if (error) return error->message;
  return "ok";
}

EtcdClient::EtcdClient(asio::io_context& io, const config::Cluster& settings)
    : io_(io), endpoints_(settings.endpoints), username_(settings.username), password_(settings.password) {
  for (const auto& endpoint : endpoints_)
    if (endpoint.https) {
      tls_ = make_etcd_tls_context(settings.tls);
      break;
    }
}

void EtcdClient::rotate() {
  current_ = (current_ + 1) % endpoints_.size();
  if (connection_) connection_->close();
  connection_.reset();
}

void EtcdClient::close() {
  if (connection_) connection_->close();
}

asio::awaitable<std::optional<std::string>> EtcdClient::ensure_connected() {
  if (connection_ && connection_->is_open()) co_return std::nullopt;
  std::string problems;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    connection_ = std::make_shared<EtcdConnection>(io_, endpoints_[current_], tls_);
    auto problem = co_await connection_->connect(kEtcdConnectTimeout);
    if (!problem) co_return std::nullopt;
    append_problem(problems, endpoints_[current_].url, *problem);
    connection_.reset();
    current_ = (current_ + 1) % endpoints_.size();
  }
  co_return problems;
}

asio::awaitable<std::optional<std::string>> EtcdClient::ensure_token() {
  if (username_.empty() || !token_.empty()) co_return std::nullopt;
  const std::string body = authenticate_request(username_, password_);
  auto reply = co_await send(kAuthenticatePath, body);
  if (!reply.ok()) co_return "cannot authenticate as '" + username_ + "': " + reply.describe();
  const auto* token = reply.result->if_contains("token");
  if (!token || !token->is_string()) co_return "cannot authenticate as '" + username_ + "': no token in the reply";
  token_ = token->as_string();
  co_return std::nullopt;
}

asio::awaitable<EtcdReply> EtcdClient::send(std::string_view path, const std::string& body) {
  if (auto problem = co_await ensure_connected())
    co_return EtcdReply{.result = std::nullopt, .error = std::nullopt, .unreachable = *problem, .sent = false};
  std::string problem;
  const std::shared_ptr<EtcdConnection> connection = connection_;  // alive until post() is done
  auto reply = co_await connection->post(path, body, token_, kEtcdRequestTimeout, problem);
  if (!reply) {
    const std::string url = connection->endpoint().url;
    if (connection_ == connection) rotate();  // else the watch loop rotated already
    co_return EtcdReply{.result = std::nullopt, .error = std::nullopt, .unreachable = url + ": " + problem,
                        .sent = problem.starts_with("no reply")};
  }
  auto parsed = parse_reply(*reply);
  parsed.sent = true;
  co_return parsed;
}

asio::awaitable<void> EtcdClient::acquire() {
  while (busy_) {
    auto turn = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    waiters_.push_back(turn);
    co_await turn->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  busy_ = true;
}

void EtcdClient::release() {
  busy_ = false;
  if (waiters_.empty()) return;
  waiters_.front()->cancel();
  waiters_.pop_front();
}

asio::awaitable<EtcdReply> EtcdClient::call(std::string_view path, std::string body) {
  co_await acquire();
  auto reply = co_await call_once_acquired(path, body);
  release();
  co_return reply;
}

asio::awaitable<EtcdReply> EtcdClient::call_once_acquired(std::string_view path, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto problem = co_await ensure_token()) {
      co_return EtcdReply{.result = std::nullopt, .error = std::nullopt, .unreachable = *problem, .sent = false};
    }
    auto reply = co_await send(path, body);
    if (reply.error && is_token_refused(*reply.error) && !username_.empty() && attempt == 0) {
      token_.clear();
      continue;
    }
    co_return reply;
  }
  co_return EtcdReply{.result = std::nullopt,
                      .error = EtcdError{.code = kUnauthenticated, .message = "token refused twice"},
                      .unreachable = {},
                      .sent = true};
}

asio::awaitable<std::unique_ptr<EtcdConnection>> EtcdClient::open_stream_connection(std::string& token,
                                                                                     std::string& problem) {
  if (!username_.empty()) {  // the token is shared with the unary calls: take turns
    co_await acquire();
    auto failed_token = co_await ensure_token();
    token = token_;
    release();
    if (failed_token) {
      problem = *failed_token;
      co_return nullptr;
    }
  }
  std::string problems;
  std::size_t index = current_;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    auto connection = std::make_unique<EtcdConnection>(io_, endpoints_[index], tls_);
    auto failed = co_await connection->connect(kEtcdConnectTimeout);
    if (!failed) co_return connection;
    append_problem(problems, endpoints_[index].url, *failed);
    index = (index + 1) % endpoints_.size();
  }
  problem = problems;
  co_return nullptr;
}

}  // namespace keel::cluster
