#include "tests/support/etcd_cluster.hpp"

#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <stdexcept>

namespace keel::test {
namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr const char* kEtcdctl = "/usr/bin/etcdctl";

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

EtcdCluster::EtcdCluster(std::size_t size) {
  if (!std::filesystem::exists(kEtcd) || !std::filesystem::exists(kEtcdctl))
    throw std::runtime_error("etcd not found: install the Debian packages etcd-server and etcd-client "
                             "(scripts/install-deps etcd-server etcd-client)");
  std::string pattern = ::testing::TempDir() + "keel-etcd-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
  directory_ = pattern;
  for (std::size_t i = 0; i < size; ++i) {
    auto member = std::make_unique<Member>();
    member->name = "m" + std::to_string(i);
    member->data_dir = directory_ + "/" + member->name;
    members_.push_back(std::move(member));
  }
  for (std::size_t i = 0; i < size; ++i) launch(i, false);
  if (!wait_healthy(20s)) throw std::runtime_error("etcd cluster did not become healthy:\n" + logs());
}

EtcdCluster::~EtcdCluster() {
  for (auto& member : members_) member->process.reset();  // SIGKILL, reaped
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

std::string EtcdCluster::endpoint(std::size_t member) const { return url(members_.at(member)->client_port.port()); }

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::string EtcdCluster::endpoints_yaml() const {
  std::string out = "[";
  for (const auto& endpoint : endpoints()) out += (out.size() > 1 ? ", " : "") + endpoint;
  return out + "]";
}

std::string EtcdCluster::initial_cluster() const {
  std::string out;
  for (const auto& member : members_)
    out += (out.empty() ? "" : ",") + member->name + "=" + url(member->peer_port.port());
  return out;
}

void EtcdCluster::launch(std::size_t index, bool existing) {
  Member& member = *members_.at(index);
  std::vector<std::string> arguments{
      "--name", member.name,
      "--data-dir", member.data_dir,
      "--listen-client-urls", url(member.client_port.port()),
      "--advertise-client-urls", url(member.client_port.port()),
      "--listen-peer-urls", url(member.peer_port.port()),
      "--initial-advertise-peer-urls", url(member.peer_port.port()),
      "--initial-cluster", initial_cluster(),
      "--initial-cluster-state", existing ? "existing" : "new",
      "--initial-cluster-token", "keel-test",
      // Fast elections and watch progress: failures are seen within a second.
      "--heartbeat-interval", "50",
      "--election-timeout", "500",
      "--experimental-watch-progress-notify-interval", "1s",
      "--snapshot-count", "5000",
  };
  member.process = std::make_unique<ChildProcess>(kEtcd, arguments);
}

void EtcdCluster::kill(std::size_t member) {
  auto& process = members_.at(member)->process;
  if (!process) return;
  process->signal(SIGKILL);
  process->wait_exit(5s);
}

void EtcdCluster::stop(std::size_t member) {
  auto& process = members_.at(member)->process;
  if (!process) return;
  process->signal(SIGTERM);
  if (!process->wait_exit(10s)) process->signal(SIGKILL);
  process->wait_exit(5s);
}

void EtcdCluster::start(std::size_t member) { launch(member, true); }

bool EtcdCluster::is_running(std::size_t member) const {
  auto& process = members_.at(member)->process;
  return process && process->is_running();
}

bool EtcdCluster::wait_healthy(std::chrono::milliseconds deadline) const {
  return wait_until(
      [&] {
        for (std::size_t i = 0; i < members_.size(); ++i) {
          if (!is_running(i)) continue;
          TestClient client;
          if (client.connect(endpoint(i).substr(7), 500ms)) return false;
          const auto response = client.get("/health", {}, 1s);
          if (!response.ok() || response.body().find("\"true\"") == std::string::npos) return false;
        }
        return true;
      },
      deadline);
}

std::string EtcdCluster::ctl(const std::vector<std::string>& arguments) const {
  // A snapshot is taken from one member; everything else may go to any.
  const bool one = !arguments.empty() && arguments.front() == "snapshot";
  std::string endpoints;
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (is_running(i) && !(one && !endpoints.empty())) endpoints += (endpoints.empty() ? "" : ",") + endpoint(i);
  std::vector<std::string> all{"--endpoints", endpoints, "--command-timeout", "5s"};
  all.insert(all.end(), arguments.begin(), arguments.end());
  ChildProcess process(kEtcdctl, all, ChildOptions{.environment = {{"ETCDCTL_API", "3"}}, .working_directory = {}});
  const auto status = process.wait_exit(15s);
  if (status != 0)
    throw std::runtime_error("etcdctl failed (" + (status ? std::to_string(*status) : std::string("timeout")) +
                             "): " + process.output(ChildProcess::Output::err));
  return process.output();
}

void EtcdCluster::restore(const std::string& snapshot) {
  for (std::size_t i = 0; i < members_.size(); ++i) stop(i);
  for (auto& member : members_) {
    std::filesystem::remove_all(member->data_dir);
    ChildProcess process(kEtcdctl, {"snapshot", "restore", snapshot, "--name", member->name, "--data-dir",
                                    member->data_dir, "--initial-cluster", initial_cluster(),
                                    "--initial-cluster-token", "keel-test-restored",
                                    "--initial-advertise-peer-urls", url(member->peer_port.port())},
                         ChildOptions{.environment = {{"ETCDCTL_API", "3"}}, .working_directory = {}});
    if (process.wait_exit(15s) != 0)
      throw std::runtime_error("etcdctl snapshot restore failed: " + process.output(ChildProcess::Output::err));
  }
  for (std::size_t i = 0; i < members_.size(); ++i) launch(i, true);
  if (!wait_healthy(20s)) throw std::runtime_error("restored etcd cluster did not become healthy:\n" + logs());
}

std::string EtcdCluster::logs() const {
  std::string out;
  for (const auto& member : members_)
    if (member->process)
      out += "--- " + member->name + "\n" + member->process->output(ChildProcess::Output::err).substr(0, 4000) + "\n";
  return out;
}

}  // namespace keel::test
