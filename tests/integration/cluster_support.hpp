// Cluster-mode tests: keel processes sharing a real etcd cluster (EtcdCluster).
#pragma once

#include "tests/integration/keel_under_test.hpp"
#include "tests/support/etcd_cluster.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::test {

// One keel instance of the cluster, as a child process.
class ClusterKeel {
 public:
  // `pools_yaml`: the "pools:" section; `extra`: more top-level YAML.
  ClusterKeel(const EtcdCluster& etcd, std::string instance, const std::string& pools_yaml,
              const std::string& extra = {}, const std::string& lease_ttl = "2s",
              const std::string& endpoints_yaml = {})
      : instance_(std::move(instance)),
        config_("workers: 1\nlisteners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\n" + pools_yaml +
                extra + "cluster:\n  instance: " + instance_ + "\n  lease_ttl: " + lease_ttl +
                "\n  etcd:\n    endpoints: " + (endpoints_yaml.empty() ? etcd.endpoints_yaml() : endpoints_yaml) +
                "\n") {
    start();
  }

  void start() {
    process_ = std::make_unique<ChildProcess>(binary_path("keel"), std::vector<std::string>{"--config", config_.path()});
    const auto line = process_->wait_for_line("listening on ");
    if (!line) throw std::runtime_error(instance_ + " did not start: " + log());
    address_ = *listening_address(*line);
    const auto admin = process_->wait_for_line("admin listening on ");
    if (!admin) throw std::runtime_error(instance_ + " has no admin API: " + log());
    admin_ = admin->substr(std::string_view("admin listening on ").size());
  }

  const std::string& instance() const { return instance_; }
  const std::string& address() const { return address_; }
  const std::string& admin() const { return admin_; }
  ChildProcess& process() { return *process_; }
  std::string log() const { return process_ ? process_->output(ChildProcess::Output::err) : std::string(); }
  const std::string& config_path() const { return config_.path(); }

  TestResponse call(std::string_view method, std::string_view target, std::string body = {}) const {
    TestClient client{admin_};
    return client.request(method, target, {}, std::move(body), 10s);
  }
  // GET as JSON; null when the request fails.
  boost::json::value json(std::string_view target) const {
    const auto response = call("GET", target);
    boost::system::error_code ec;
    auto value = boost::json::parse(response.body(), ec);
    return ec ? boost::json::value() : value;
  }
  // The addresses of the pool's backends in state `state` ("" = any).
  std::vector<std::string> backends(const std::string& pool, std::string_view state = {}) const {
    std::vector<std::string> out;
    const auto value = json("/api/v1/pools/" + pool);
    if (!value.is_object() || !value.as_object().contains("backends")) return out;
    for (const auto& backend : value.at("backends").as_array())
      if (state.empty() || backend.at("state").as_string() == state)
        out.emplace_back(backend.at("address").as_string());
    return out;
  }
  bool has_backend(const std::string& pool, const std::string& address, std::string_view state = {}) const {
    const auto list = backends(pool, state);
    return std::find(list.begin(), list.end(), address) != list.end();
  }
  // Follows etcd (a watch is open) and knows the leader: ready for changes.
  bool wait_current(std::chrono::milliseconds deadline = 10s) const {
    return wait_until([&] {
      const auto value = json("/api/v1/cluster");
      return value.is_object() && !value.at("stale").as_bool() && value.at("leader").is_string() &&
             call("GET", "/metrics").body().find("keel_cluster_etcd_connected 1") != std::string::npos;
    }, deadline);
  }
  std::string leader() const {
    const auto value = json("/api/v1/cluster");
    if (!value.is_object() || !value.at("leader").is_string()) return {};
    return std::string(value.at("leader").as_string());
  }

 private:
  std::string instance_;
  TempConfig config_;
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
  std::string admin_;
};

inline std::string one_pool_yaml(const std::vector<std::string>& backends, const std::string& pool = "app",
                                 const std::string& settings = {}) {
  std::string yaml = "pools:\n  - name: " + pool + "\n" + settings + "    backends:";
  if (backends.empty()) return yaml + " []\n";
  yaml += "\n";
  for (const auto& backend : backends) yaml += "      - { address: \"" + backend + "\" }\n";
  return yaml;
}

}  // namespace keel::test
