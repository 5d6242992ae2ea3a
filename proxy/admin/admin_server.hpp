// The admin HTTP/1.1 server on admin.address: a Beast server on the control thread's
// io_context that hands each request to AdminRoutes, which calls the PoolAdmin
// synchronously. Control thread only; nothing here is shared with workers.
#pragma once

#include "proxy/admin/pool_admin.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace keel::admin {

struct AdminLimits {
  std::size_t max_header_bytes = 16 * 1024;  // 431 past it
  std::size_t max_body_bytes = 1024 * 1024;  // 413 past it
  // Past it the server stops accepting until a connection ends; newcomers wait in the
  // listen backlog.
  std::size_t max_connections = 256;
  // From the first byte of a request to its last, and for writing the answer.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(10);
  // A keep-alive connection with no request in progress.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
};

class AdminServer {
 public:
  // Binds and listens on `endpoint` (port 0 picks one); throws std::runtime_error
  // "cannot listen on ADDRESS: reason" on failure. An empty `token` turns
  // authentication off; the token is neither kept in clear nor logged. `control`
  // and `admin` must outlive the server.
  AdminServer(boost::asio::io_context& control, const boost::asio::ip::tcp::endpoint& endpoint,
              std::string token, PoolAdmin& admin, AdminLimits limits = {});
  // stop(). Control thread, or once the control loop no longer runs; coroutines still
  // queued in `control` keep what they use alive until they end or `control` is destroyed.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The bound address (a port 0 request shows its real port). Any thread.
  boost::asio::ip::tcp::endpoint endpoint() const { return endpoint_; }

  // Control thread (or before `control` runs). Starts accepting; once only.
  void start();
  // Control thread. Closes the acceptor and every connection; a request being answered
  // is cut off. The server cannot be started again.
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the coroutines, which may outlive `this`
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace keel::admin
