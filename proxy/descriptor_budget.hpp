#pragma once

#include "proxy/config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace keel {

inline constexpr std::uint64_t kDescriptorsPerClient = 2;
// Health checks, log and state files, webhook and command hooks, DNS.
inline constexpr std::uint64_t kDescriptorMargin = 64;

// How many client connections the process's file-descriptor limit has room for,
// like HAProxy's computed maxconn: each client connection may hold one upstream
// connection too (idle pooled ones never outnumber the clients that used them),
// and a fixed reserve keeps the admin API, health checks, logs and the state
// file working when every client slot is taken.
struct DescriptorBudget {
  std::uint64_t limit = 0;     // RLIMIT_NOFILE (soft) in force
  std::uint64_t reserved = 0;  // descriptors not for clients
  std::size_t max_clients = 0;

  // Descriptors `max_connections` client connections need, reserve included.
  std::uint64_t needed_for(std::size_t max_connections) const { return reserved + kDescriptorsPerClient * max_connections; }
};

// Pure: the budget for `limit` descriptors and this config's listeners, workers
// and admin listener.
DescriptorBudget descriptor_budget(std::uint64_t limit, const config::Config& config);

// Raises the soft RLIMIT_NOFILE to the hard limit (each client connection costs
// descriptors); returns the soft limit in force afterwards.
std::uint64_t raise_descriptor_limit();
// The soft RLIMIT_NOFILE in force.
std::uint64_t descriptor_limit();

// The warning to log when `max_connections` does not fit the budget, naming
// what it is lowered to and the limit that would fit; nothing when it fits.
std::optional<std::string> descriptor_warning(const DescriptorBudget& budget, std::size_t max_connections);

}  // namespace keel
