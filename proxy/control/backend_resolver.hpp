// Periodic re-resolution of backend host names (a pool's `resolve` interval,
// like nginx's `resolve`): what changes reaches the workers through the control
// plane's snapshots (control_plane_resolve.cpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace keel::control {

// Control thread only; callbacks run on it too. Each pool with an interval has
// a timer; when it fires, the pool's names are looked up with asio's resolver,
// whose getaddrinfo runs on a thread of its own: neither the workers nor the
// control thread (the admin API, health checks) ever wait for DNS.
class BackendResolver {
 public:
  struct Name {
    std::uint64_t backend_id = 0;
    std::string host;  // a host name, never an IP literal
    std::uint16_t port = 0;
  };
  // The names of `pool` to look up now (taken at every round, so backends added
  // through the admin API are included).
  using Names = std::function<std::vector<Name>(const std::string& pool)>;
  // One answer: the addresses `name.host` has now (in getaddrinfo's order), or why none.
  using Answer = std::function<void(const Name& name, const boost::system::error_code& ec,
                                    const std::vector<boost::asio::ip::tcp::endpoint>& endpoints)>;

  BackendResolver(boost::asio::io_context& io, Names names, Answer answer);
  ~BackendResolver();  // stop()
  BackendResolver(const BackendResolver&) = delete;
  BackendResolver& operator=(const BackendResolver&) = delete;

  // The pools to re-resolve and how often (after start and after each reload).
  // A pool whose interval is unchanged keeps its schedule.
  void set_pools(const std::map<std::string, std::chrono::milliseconds>& intervals);
  // Final: no timer fires and no answer is delivered after it, even one already queued.
  void stop();

 private:
  struct Loop;
  void arm(const std::shared_ptr<Loop>& loop);
  void look_up(const std::shared_ptr<Loop>& loop);

  boost::asio::io_context& io_;
  Names names_;
  Answer answer_;
  std::map<std::string, std::shared_ptr<Loop>> loops_;
  bool stopped_ = false;
};

}  // namespace keel::control
