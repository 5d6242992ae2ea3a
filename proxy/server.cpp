#include "proxy/server.hpp"

#include "proxy/log/access_log.hpp"
#include "proxy/tls/server_context.hpp"

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <stdexcept>

namespace keel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {
tcp::acceptor bind_acceptor(asio::io_context& io, const tcp::endpoint& endpoint, const std::string& text) {
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + text + ": " + ec.message());
  return acceptor;
}

// One acceptor per worker on the same address. Port 0: the first bind picks the
// port, the other workers join it.
std::vector<tcp::acceptor> bind_for_workers(std::vector<std::unique_ptr<worker::Worker>>& workers,
                                            const config::Listener& listener, tcp::endpoint& bound) {
  std::vector<tcp::acceptor> acceptors;
  tcp::endpoint endpoint = listener.address.endpoint;
  for (auto& worker : workers) {
    acceptors.push_back(bind_acceptor(worker->context(), endpoint, listener.address.text));
    endpoint = acceptors.back().local_endpoint();
  }
  bound = endpoint;
  return acceptors;
}
}  // namespace

Server::Server(const config::Config& config) {
  if (config.access_log) {
    if (!metrics::kCounting)
      throw std::runtime_error("access_log needs request accounting, compiled out of this build (KEEL_METRICS=OFF)");
    access_log_ = std::make_unique<log::AccessLog>(*config.access_log, config.workers);
  }
  for (unsigned i = 0; i < config.workers; ++i) {
    workers_.push_back(std::make_unique<worker::Worker>(i, shared_));
    if (access_log_) workers_.back()->set_access_log(&access_log_->worker(i));
  }
  for (const auto& listener : config.listeners) {
    const auto tls = listener.tls ? tls::ServerContext::build(*listener.tls) : nullptr;
    tcp::endpoint bound;
    auto acceptors = bind_for_workers(workers_, listener, bound);
    for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->add_acceptor(std::move(acceptors[i]), tls);
    endpoints_.push_back(bound);
  }
}

Server::~Server() {
  if (!threads_.empty()) {
    stop(std::chrono::milliseconds(0));
    wait();
  }
}

void Server::install_initial(const std::shared_ptr<const control::RoutingSnapshot>& snapshot) {
  for (auto& worker : workers_) worker->install(snapshot);
}

void Server::set_install_listener(std::function<void(std::size_t, std::uint64_t)> listener) {
  for (auto& worker : workers_) worker->set_install_listener(listener);
}

void Server::start() {
  for (auto& worker : workers_) threads_.emplace_back([w = worker.get()] { w->run(); });
}

void Server::publish(std::shared_ptr<const control::RoutingSnapshot> snapshot) {
  for (auto& worker : workers_)
    asio::post(worker->context(), [w = worker.get(), snapshot] { w->install(snapshot); });
}

tcp::endpoint Server::open_listener(const config::Listener& listener) {
  const auto tls = listener.tls ? tls::ServerContext::build(*listener.tls) : nullptr;
  tcp::endpoint bound;
  auto acceptors = bind_for_workers(workers_, listener, bound);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    // The acceptor was opened on the worker's io_context, so moving it there is safe.
    auto shared = std::make_shared<tcp::acceptor>(std::move(acceptors[i]));
    asio::post(workers_[i]->context(), [w = workers_[i].get(), shared, tls] {
      w->open_listener(std::move(*shared), tls);
    });
  }
  endpoints_.push_back(bound);
  return bound;
}

void Server::set_listener_tls(const tcp::endpoint& endpoint, worker::Worker::TlsContext tls) {
  for (auto& worker : workers_)
    asio::post(worker->context(), [w = worker.get(), endpoint, tls] { w->set_listener_tls(endpoint, tls); });
}

void Server::close_listener(const tcp::endpoint& endpoint) {
  for (auto& worker : workers_)
    asio::post(worker->context(), [w = worker.get(), endpoint] { w->close_listener(endpoint); });
  endpoints_.erase(std::remove(endpoints_.begin(), endpoints_.end(), endpoint), endpoints_.end());
}

void Server::stop(std::chrono::milliseconds grace) {
  for (auto& worker : workers_)
    asio::post(worker->context(), [w = worker.get(), grace] { w->begin_shutdown(grace); });
}

void Server::wait() {
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
  threads_.clear();
}

}  // namespace keel

namespace keel {

void Server::reopen_access_log() {
  if (access_log_) access_log_->reopen();
}

std::uint64_t Server::access_log_dropped() const { return access_log_ ? access_log_->dropped() : 0; }

}  // namespace keel
