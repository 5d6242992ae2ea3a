#include "proxy/proxy.hpp"

#include "proxy/admin/admin_server.hpp"
#include "proxy/control/control_plane.hpp"
#include "proxy/log/log.hpp"
#include "proxy/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <cstdio>
#include <future>

#include <unistd.h>

namespace keel {

Proxy::Proxy(config::Config config, std::string config_path) : config_path_(std::move(config_path)) {
  server_ = std::make_unique<Server>(config);
  const auto admin = config.admin;
  control_plane_ = std::make_unique<control::ControlPlane>(control_io_, std::move(config), *server_);
  if (admin)
    admin_server_ = std::make_unique<admin::AdminServer>(control_io_, admin->address.endpoint, admin->token,
                                                         *control_plane_);
}

Proxy::~Proxy() {
  if (control_thread_.joinable()) {
    stop(std::chrono::milliseconds(0));
    wait();
  }
}

void Proxy::start() {
  server_->start();
  control_plane_->start(cluster_instance());
  if (admin_server_) admin_server_->start();
  control_thread_ = std::thread([this] {
    auto work = boost::asio::make_work_guard(control_io_);
    control_io_.run();
  });
}

// The config's cluster.instance, else hostname + ":" + the admin port (the
// loader requires instance when there is no admin listener).
std::string Proxy::cluster_instance() const {
  const auto& cluster = control_plane_->config().cluster;
  if (!cluster) return {};
  if (!cluster->instance.empty()) return cluster->instance;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "keel");
  const auto admin = admin_endpoint();
  return std::string(host) + ":" + std::to_string(admin ? admin->port() : 0);
}

const std::vector<boost::asio::ip::tcp::endpoint>& Proxy::endpoints() const { return server_->endpoints(); }

std::optional<boost::asio::ip::tcp::endpoint> Proxy::admin_endpoint() const {
  if (!admin_server_) return std::nullopt;
  return admin_server_->endpoint();
}

std::vector<std::string> Proxy::reload() { return control_plane_->reload(config_path_); }

std::vector<std::string> Proxy::reload_and_wait() {
  std::promise<std::vector<std::string>> done;
  auto result = done.get_future();
  boost::asio::post(control_io_, [this, &done] { done.set_value(reload()); });
  return result.get();
}

void Proxy::reopen_logs() { server_->reopen_access_log(); }

void Proxy::stop(std::chrono::milliseconds grace) {
  boost::asio::post(control_io_, [this] {
    if (admin_server_) admin_server_->stop();
    control_plane_->stop();
  });
  server_->stop(grace);
}

void Proxy::wait() {
  server_->wait();
  control_io_.stop();
  if (control_thread_.joinable()) control_thread_.join();
}

}  // namespace keel
