#pragma once

#include "proxy/config/config.hpp"
#include "proxy/control/snapshot.hpp"
#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace keel {

// The data plane: binds every listener once per worker (SO_REUSEPORT, so the
// kernel spreads connections and no acceptor is shared), installs the first
// routing snapshot and runs one thread per worker.
class Server {
 public:
  // Binds all listeners; throws std::runtime_error naming the address on failure.
  explicit Server(const config::Config& config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound addresses, in config order (a port 0 listener shows its real port).
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const { return endpoints_; }

  void start();
  // Any thread. Publishes a new snapshot to every worker (FIFO per worker).
  void publish(std::shared_ptr<const control::RoutingSnapshot> snapshot);
  // Any thread. Stops accepting, lets in-flight requests finish within `grace`.
  void stop(std::chrono::milliseconds grace);
  // Joins the worker threads (after stop()).
  void wait();

  std::size_t client_connections() const {
    return shared_.client_connections.load(std::memory_order_relaxed);
  }

 private:
  worker::SharedState shared_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
};

}  // namespace keel
