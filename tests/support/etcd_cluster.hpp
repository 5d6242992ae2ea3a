// A real etcd cluster for cluster-mode tests: Debian's etcd-server binary,
// members on 127.0.0.1 ports reserved for the test, data in a temporary
// directory removed at the end, fast elections, progress notifications every
// second. Members are child processes (killed with the test, see ChildProcess).
//
//   EtcdCluster etcd(3);
//   etcd.endpoints();          // "http://127.0.0.1:P1, ..." lines for a config
//   etcd.kill(0);              // SIGKILL one member
//   etcd.ctl({"put", "/keel/x", "1"});
#pragma once

#include "tests/support/dead_port.hpp"
#include "tests/support/keel_process.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::test {

class EtcdCluster {
 public:
  // Starts `size` members and waits until the cluster serves requests. Throws
  // std::runtime_error (with the members' logs) when it does not come up.
  explicit EtcdCluster(std::size_t size = 3);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::size_t size() const { return members_.size(); }
  std::string endpoint(std::size_t member) const;
  std::vector<std::string> endpoints() const;
  // "[http://127.0.0.1:P1, http://127.0.0.1:P2, ...]" for YAML.
  std::string endpoints_yaml() const;

  void kill(std::size_t member);  // SIGKILL
  void stop(std::size_t member);  // SIGTERM, waits for the exit
  // Starts a stopped member again on its data directory.
  void start(std::size_t member);
  bool is_running(std::size_t member) const;
  // Waits until every running member answers /health with "true".
  bool wait_healthy(std::chrono::milliseconds deadline = kDefaultDeadline) const;

  // etcdctl (API v3) against the running members; returns stdout, throws
  // std::runtime_error with stderr when it fails.
  std::string ctl(const std::vector<std::string>& arguments) const;
  // Every member stops, its data is replaced by `snapshot` (etcdctl snapshot
  // save), and the cluster starts again from it: the revision goes back.
  void restore(const std::string& snapshot);
  std::string directory() const { return directory_; }

 private:
  struct Member {
    std::string name;
    DeadPort client_port;
    DeadPort peer_port;
    std::string data_dir;
    std::unique_ptr<ChildProcess> process;
  };
  std::string initial_cluster() const;
  void launch(std::size_t member, bool existing);
  std::string logs() const;

  std::string directory_;
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace keel::test
