// etcd's v3 JSON gateway, unary calls: keeps one connection to the endpoint
// that answered last, moves to the next endpoint when it cannot be reached,
// and authenticates (simple tokens expire: a refused token is renewed once).
// Control thread only.
#pragma once

#include "proxy/cluster/etcd_codec.hpp"
#include "proxy/cluster/etcd_connection.hpp"
#include "proxy/config/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::cluster {

// The gateway's routes (named constants: GCC 12 mishandles a string literal
// converted to a parameter inside a co_await expression).
inline constexpr std::string_view kRangePath = "/v3/kv/range";
inline constexpr std::string_view kTxnPath = "/v3/kv/txn";
inline constexpr std::string_view kWatchPath = "/v3/watch";
inline constexpr std::string_view kLeaseGrantPath = "/v3/lease/grant";
inline constexpr std::string_view kLeaseKeepalivePath = "/v3/lease/keepalive";
inline constexpr std::string_view kLeaseRevokePath = "/v3/lease/revoke";
inline constexpr std::string_view kAuthenticatePath = "/v3/auth/authenticate";

inline constexpr std::chrono::milliseconds kEtcdConnectTimeout{1'000};
inline constexpr std::chrono::milliseconds kEtcdRequestTimeout{2'000};

struct EtcdReply {
  std::optional<boost::json::object> result;  // set on success
  std::optional<EtcdError> error;             // etcd refused (a result is absent)
  std::string unreachable;                    // no endpoint answered: why (result and error absent)
  // The request reached an endpoint (it may have been applied even without an answer).
  bool sent = false;

  bool ok() const { return result.has_value(); }
  // Whether the cluster cannot serve the request now (no endpoint, no leader,
  // no quorum): worth a retry later, unlike an error about the request.
  bool unavailable() const;
  std::string describe() const;
};

class EtcdClient {
 public:
  EtcdClient(boost::asio::io_context& io, const config::Cluster& settings);

  // POSTs `body` to `path` ("/v3/kv/range"). Connection failures move on to
  // the next endpoint (each tried once); a request sent but not answered is
  // not repeated (a transaction may have been applied).
  boost::asio::awaitable<EtcdReply> call(std::string_view path, std::string body);

  // A new connection for a watch: to the current endpoint, else the next ones.
  // nullptr when none can be reached (`problem` says why). `token` gets the
  // auth token to send with the stream.
  boost::asio::awaitable<std::unique_ptr<EtcdConnection>> open_stream_connection(std::string& token,
                                                                                  std::string& problem);
  // The next call starts with the next endpoint (after a stream failed).
  void rotate();
  // The token was refused: authenticate again before the next request.
  void forget_token() { token_.clear(); }

  const std::string& current_endpoint() const { return endpoints_[current_].url; }
  // Ends the pending call at once (shutdown).
  void close();

 private:
  boost::asio::awaitable<std::optional<std::string>> ensure_connected();
  boost::asio::awaitable<std::optional<std::string>> ensure_token();
  boost::asio::awaitable<EtcdReply> send(std::string_view path, const std::string& body);
  boost::asio::awaitable<EtcdReply> call_once_acquired(std::string_view path, const std::string& body);
  // One request at a time on the connection: callers queue in order.
  boost::asio::awaitable<void> acquire();
  void release();

  boost::asio::io_context& io_;
  std::vector<config::EtcdEndpoint> endpoints_;
  std::string username_;
  std::string password_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::size_t current_ = 0;
  // Shared with the request in flight on it (send()): a rotate() by the watch
  // loop, which does not take turns, closes it without freeing it under that request.
  std::shared_ptr<EtcdConnection> connection_;
  std::string token_;
  bool busy_ = false;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace keel::cluster
