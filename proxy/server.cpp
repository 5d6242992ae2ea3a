#include "proxy/server.hpp"

#include "proxy/descriptor_budget.hpp"
#include "proxy/log/access_log.hpp"
#include "proxy/log/log.hpp"
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
[[noreturn]] void refuse(const std::string& text, const boost::system::error_code& ec) {
  if (ec == asio::error::address_in_use)
    throw std::runtime_error("cannot listen on " + text +
                             ": address in use (another process listens on it; 'reuse_port: true' on "
                             "the listener shares it with processes that ask for it too)");
  throw std::runtime_error("cannot listen on " + text + ": " + ec.message());
}

tcp::acceptor bind_acceptor(asio::io_context& io, const tcp::endpoint& endpoint, const std::string& text) {
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) refuse(text, ec);
  return acceptor;
}

// The workers' acceptors share their address through SO_REUSEPORT, which would
// also let them join a socket another process (another keel) listens on, and
// silently take a share of its traffic. A first bind without SO_REUSEPORT fails
// in that case; it is closed before the workers bind, so they alone hold the
// address. Port 0 needs no probe: the kernel never hands out a port another
// socket listens on (and a probe's port could be taken before the workers bind).
tcp::endpoint claim_address(asio::io_context& io, const config::Listener& listener) {
  if (listener.reuse_port || listener.address.endpoint.port() == 0) return listener.address.endpoint;
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  probe.open(listener.address.endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);  // TIME_WAIT leftovers do not count
  if (!ec) probe.bind(listener.address.endpoint, ec);
  tcp::endpoint claimed;
  if (!ec) claimed = probe.local_endpoint(ec);
  if (ec) refuse(listener.address.text, ec);
  return claimed;
}

// One listening socket per worker on the same address. Port 0: the first bind
// picks the port, the others join it. They are bound on a loop of their own and
// handed over as descriptors: a worker's loop runs without per-socket locks
// (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), so only its own thread may register a
// socket with it, and a reload opens listeners while the workers run.
std::vector<tcp::acceptor::native_handle_type> bind_for_workers(std::size_t workers, const config::Listener& listener,
                                                                tcp::endpoint& bound) {
  asio::io_context binding;
  tcp::endpoint endpoint = claim_address(binding, listener);
  std::vector<tcp::acceptor> acceptors;  // closed again if a later bind throws
  for (std::size_t i = 0; i < workers; ++i) {
    acceptors.push_back(bind_acceptor(binding, endpoint, listener.address.text));
    endpoint = acceptors.back().local_endpoint();
  }
  bound = endpoint;
  std::vector<tcp::acceptor::native_handle_type> sockets;
  for (auto& acceptor : acceptors) sockets.push_back(acceptor.release());
  return sockets;
}
}  // namespace

Server::Server(const config::Config& config) {
  const auto budget = descriptor_budget(descriptor_limit(), config);
  shared_.client_capacity = budget.max_clients;
  if (const auto warning = descriptor_warning(budget, config.limits.max_connections)) log::warn(*warning);
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
    const auto tls = listener.tls ? tls::ServerContext::build(*listener.tls, listener.http2) : nullptr;
    tcp::endpoint bound;
    const auto sockets = bind_for_workers(workers_.size(), listener, bound);
    for (std::size_t i = 0; i < workers_.size(); ++i)  // not running yet: their loops are ours
      workers_[i]->add_acceptor(tcp::acceptor(workers_[i]->context(), bound.protocol(), sockets[i]), tls,
                                listener.http2);
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
  const auto tls = listener.tls ? tls::ServerContext::build(*listener.tls, listener.http2) : nullptr;
  tcp::endpoint bound;
  const auto sockets = bind_for_workers(workers_.size(), listener, bound);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    // The worker registers the socket with its loop on its own thread.
    asio::post(workers_[i]->context(), [w = workers_[i].get(), protocol = bound.protocol(), socket = sockets[i], tls,
                                        http2 = listener.http2] {
      w->open_listener(tcp::acceptor(w->context(), protocol, socket), tls, http2);
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
