#pragma once

#include "proxy/config/config.hpp"
#include "proxy/control/snapshot.hpp"
#include "proxy/worker/worker.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace keel {
namespace log {
class AccessLog;
}

// The data plane: binds every listener once per worker (SO_REUSEPORT, so the
// kernel spreads connections and no acceptor is shared; measured faster than
// one acceptor handing sockets out) and runs one thread per worker.
class Server {
 public:
  // Binds all listeners; throws std::runtime_error naming the address on failure.
  explicit Server(const config::Config& config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound addresses, in config order (a port 0 listener shows its real port).
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const { return endpoints_; }
  std::size_t worker_count() const { return workers_.size(); }

  // Before start(): the first snapshot, and who hears of every install.
  void install_initial(const std::shared_ptr<const control::RoutingSnapshot>& snapshot);
  void set_install_listener(std::function<void(std::size_t worker, std::uint64_t version)> listener);

  void start();
  // Any thread. Publishes a new snapshot to every worker (FIFO per worker).
  void publish(std::shared_ptr<const control::RoutingSnapshot> snapshot);
  // Control thread, after start(): a listener added or removed by a reload.
  // open_listener throws std::runtime_error when it cannot bind or its
  // certificates cannot be loaded.
  boost::asio::ip::tcp::endpoint open_listener(const config::Listener& listener);
  // Control thread: swaps the certificates of a kept listener (null: plain HTTP).
  void set_listener_tls(const boost::asio::ip::tcp::endpoint& endpoint, worker::Worker::TlsContext tls);
  void close_listener(const boost::asio::ip::tcp::endpoint& endpoint);
  // Any thread. Stops accepting, lets in-flight requests finish within `grace`.
  void stop(std::chrono::milliseconds grace);
  // Joins the worker threads (after stop()).
  void wait();

  // Any thread, while the server exists: worker `index`'s counters (/metrics).
  const metrics::WorkerCounters& worker_counters(std::size_t index) const { return workers_.at(index)->counters(); }

  // Any thread. SIGUSR1: the access log reopens its file (after logrotate).
  void reopen_access_log();
  // Lines the access log dropped because a worker's buffer was full; 0 without a log.
  std::uint64_t access_log_dropped() const;
  bool has_access_log() const { return access_log_ != nullptr; }

  std::size_t client_connections() const {
    return shared_.client_connections.load(std::memory_order_relaxed);
  }
  // How many client connections the file-descriptor limit has room for.
  std::size_t client_capacity() const { return shared_.client_capacity; }
  // Keep-alive clients idle long enough to be parked (no coroutine, no buffer).
  std::size_t parked_clients() const { return shared_.parked_clients.load(std::memory_order_relaxed); }

 private:
  worker::SharedState shared_;
  // Before the workers: they write into it until they are destroyed.
  std::unique_ptr<log::AccessLog> access_log_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
};

}  // namespace keel
