#pragma once

#include "proxy/config/config.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace keel {

class Server;
namespace control {
class ControlPlane;
}
namespace admin {
class AdminServer;
}

// keel as a whole: the data plane (workers), the control plane and the admin
// API, and the control thread they run on. main() and the in-process tests
// use the same wiring.
class Proxy {
 public:
  // Binds every listener and the admin address, reads the state file. Throws
  // std::runtime_error with a message for the operator on failure.
  Proxy(config::Config config, std::string config_path);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // The control thread's loop: signal handlers belong here (before start()).
  boost::asio::io_context& control_context() { return control_io_; }

  void start();
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const;
  std::optional<boost::asio::ip::tcp::endpoint> admin_endpoint() const;

  // Control thread: re-reads the config file given to the constructor.
  std::vector<std::string> reload();
  // Any thread: runs reload() on the control thread and waits for its result.
  std::vector<std::string> reload_and_wait();
  // Any thread (SIGUSR1): the access log reopens its file, for logrotate.
  void reopen_logs();
  // Any thread: stop accepting, finish in-flight requests within `grace`.
  void stop(std::chrono::milliseconds grace);
  // Joins the workers, then ends the control thread.
  void wait();

  control::ControlPlane& control_plane() { return *control_plane_; }
  Server& server() { return *server_; }

 private:
  std::string cluster_instance() const;

  std::string config_path_;
  boost::asio::io_context control_io_{1};
  std::unique_ptr<Server> server_;
  std::unique_ptr<control::ControlPlane> control_plane_;
  std::unique_ptr<admin::AdminServer> admin_server_;
  std::thread control_thread_;
  bool stopping_ = false;
};

}  // namespace keel
