#include "proxy/descriptor_budget.hpp"

#include <sys/resource.h>

#include <limits>

namespace keel {
namespace {
// stdin, stdout, stderr.
constexpr std::uint64_t kStandardStreams = 3;
// An event loop's epoll, eventfd and timerfd: each worker's and the control thread's.
constexpr std::uint64_t kPerLoop = 3;
// Admin connections that always find a descriptor (its listener comes on top).
// The admin API may hold more; past the reserve its accept retries shortly.
constexpr std::uint64_t kAdminConnectionsReserved = 16;
}  // namespace

DescriptorBudget descriptor_budget(std::uint64_t limit, const config::Config& config) {
  DescriptorBudget budget;
  budget.limit = limit;
  const std::uint64_t workers = config.workers;
  const std::uint64_t listeners = config.listeners.size();
  budget.reserved = kStandardStreams + (workers + 1) * kPerLoop + workers * listeners + kDescriptorMargin;
  if (config.admin) budget.reserved += 1 + kAdminConnectionsReserved;
  if (limit > budget.reserved) {
    const std::uint64_t clients = (limit - budget.reserved) / kDescriptorsPerClient;
    budget.max_clients = clients > std::numeric_limits<std::size_t>::max()
                             ? std::numeric_limits<std::size_t>::max()
                             : static_cast<std::size_t>(clients);
  }
  return budget;
}

std::uint64_t raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return descriptor_limit();
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max() : limit.rlim_cur;
}

std::uint64_t descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::numeric_limits<std::uint64_t>::max();
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max() : limit.rlim_cur;
}

std::optional<std::string> descriptor_warning(const DescriptorBudget& budget, std::size_t max_connections) {
  if (max_connections <= budget.max_clients) return std::nullopt;
  return "limits.max_connections " + std::to_string(max_connections) + " does not fit the file descriptor limit " +
         std::to_string(budget.limit) + " (" + std::to_string(kDescriptorsPerClient) + " per client connection, " +
         std::to_string(budget.reserved) + " reserved): accepting at most " + std::to_string(budget.max_clients) +
         " client connections; a limit of " + std::to_string(budget.needed_for(max_connections)) +
         " fits (LimitNOFILE= in the systemd unit, ulimit -n)";
}

}  // namespace keel
