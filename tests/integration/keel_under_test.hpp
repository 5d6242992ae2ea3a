// keel in-process on 127.0.0.1:0 for integration tests: bound before the
// constructor returns, stopped and joined by the destructor.
#pragma once

#include "proxy/config/config.hpp"
#include "proxy/control/control_plane.hpp"
#include "proxy/http/address_text.hpp"
#include "proxy/proxy.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace keel::test {

struct PoolSpec {
  std::string name = "web";
  std::vector<std::string> backends;  // "127.0.0.1:PORT" or "127.0.0.1:PORT weight"
  std::string balance = "round_robin";
  int retries = 2;
};

// A config with one listener on 127.0.0.1:0 and the given pools; `extra` is
// appended verbatim at the top level (timeouts, limits, routes...).
inline std::string make_config(const std::vector<PoolSpec>& pools, const std::string& extra = {},
                               int workers = 1) {
  std::ostringstream yaml;
  yaml << "workers: " << workers << "\n"
       << "listeners:\n  - address: 127.0.0.1:0\n"
       << "pools:\n";
  for (const auto& pool : pools) {
    yaml << "  - name: " << pool.name << "\n"
         << "    balance: " << pool.balance << "\n"
         << "    retries: " << pool.retries << "\n";
    if (pool.backends.empty()) {
      yaml << "    backends: []\n";
      continue;
    }
    yaml << "    backends:\n";
    for (const auto& backend : pool.backends) {
      const auto space = backend.find(' ');
      yaml << "      - { address: \"" << backend.substr(0, space) << "\"";
      if (space != std::string::npos) yaml << ", weight: " << backend.substr(space + 1);
      yaml << " }\n";
    }
  }
  yaml << extra;
  return yaml.str();
}

inline std::string single_pool_config(const std::vector<std::string>& backends,
                                      const std::string& extra = {}) {
  return make_config({PoolSpec{.backends = backends}}, extra);
}

// A bodiless HTTP/1.1 request with a Host header, for write_request().
inline boost::beast::http::request<boost::beast::http::string_body> request_with_host(
    boost::beast::http::verb method, std::string target) {
  boost::beast::http::request<boost::beast::http::string_body> request{method, target, 11};
  request.set(boost::beast::http::field::host, "keel.test");
  return request;
}

class KeelUnderTest {
 public:
  // `config_path`: the file reload() re-reads (empty: none).
  explicit KeelUnderTest(const std::string& yaml, std::string config_path = {}) {
    auto loaded = config::parse_config(yaml, "test.yaml");
    if (!loaded.config) {
      std::string message = "test config rejected:";
      for (const auto& error : loaded.errors) message += "\n  " + error.to_string();
      throw std::runtime_error(message + "\n" + yaml);
    }
    proxy_ = std::make_unique<Proxy>(std::move(*loaded.config), std::move(config_path));
    proxy_->start();
  }
  ~KeelUnderTest() {
    proxy_->stop(std::chrono::milliseconds(0));
    proxy_->wait();
  }

  std::string address(std::size_t listener = 0) const {
    return keel::http::endpoint_text(proxy_->endpoints().at(listener));
  }
  std::string admin_address() const { return keel::http::endpoint_text(proxy_->admin_endpoint().value()); }
  Proxy& proxy() { return *proxy_; }
  control::ControlPlane& control() { return proxy_->control_plane(); }

 private:
  std::unique_ptr<Proxy> proxy_;
};

}  // namespace keel::test
