#include "proxy/server.hpp"

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/post.hpp>

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
}  // namespace

Server::Server(const config::Config& config) {
  control::BackendIds ids;
  const auto snapshot = control::build_snapshot(config, 1, ids);
  for (unsigned i = 0; i < config.workers; ++i) {
    workers_.push_back(std::make_unique<worker::Worker>(i, shared_));
    workers_.back()->install(snapshot);
  }
  for (const auto& listener : config.listeners) {
    tcp::endpoint endpoint = listener.address.endpoint;
    for (auto& worker : workers_) {
      auto acceptor = bind_acceptor(worker->context(), endpoint, listener.address.text);
      // Port 0: the first bind picks the port, the other workers join it.
      endpoint = acceptor.local_endpoint();
      worker->add_acceptor(std::move(acceptor), "http");
    }
    endpoints_.push_back(endpoint);
  }
}

Server::~Server() {
  if (!threads_.empty()) {
    stop(std::chrono::milliseconds(0));
    wait();
  }
}

void Server::start() {
  for (auto& worker : workers_) threads_.emplace_back([w = worker.get()] { w->run(); });
}

void Server::publish(std::shared_ptr<const control::RoutingSnapshot> snapshot) {
  for (auto& worker : workers_)
    asio::post(worker->context(), [w = worker.get(), snapshot] { w->install(snapshot); });
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
