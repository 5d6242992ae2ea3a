#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

using Milliseconds = std::chrono::milliseconds;

// An address as the user wrote it ("127.0.0.1:8081", "[::1]:8080",
// "app1.internal:80") plus what it resolved to when the config was loaded.
struct Address {
  std::string text;
  boost::asio::ip::tcp::endpoint endpoint;
};

struct Listener {
  Address address;
};

struct Timeouts {
  Milliseconds connect{2'000};
  Milliseconds client_header{10'000};
  Milliseconds upstream_header{30'000};
  Milliseconds idle{60'000};
  Milliseconds shutdown{30'000};
  Milliseconds drain{30'000};
};

struct Limits {
  std::size_t max_header_bytes = 16'384;
  std::uint64_t max_body_bytes = 0;  // 0 = unlimited
  std::size_t max_connections = 10'000;
};

enum class ForwardedMode { append, replace };
enum class Balance { round_robin, least_conn };

struct Backend {
  Address address;
  std::uint32_t weight = 1;
};

struct Pool {
  std::string name;
  Balance balance = Balance::round_robin;
  std::uint32_t retries = 2;
  std::vector<Backend> backends;
};

struct Route {
  std::string host;         // empty: any host; compared case-insensitively, port ignored
  std::string path_prefix;  // empty: any path
  std::string pool;
  std::size_t pool_index = 0;  // index into Config::pools, resolved by the loader
};

struct Config {
  std::string source;  // file name the config came from, for messages
  unsigned workers = 1;  // "auto" resolves to the number of cores
  std::vector<Listener> listeners;
  Timeouts timeouts;
  Limits limits;
  ForwardedMode forwarded_mode = ForwardedMode::append;
  std::vector<Pool> pools;
  std::vector<Route> routes;
};

// One problem, with its place: renders as "FILE:LINE:COL: message" (1-based).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;

  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<ConfigError> errors;  // every problem found, in document order
};

// Reads and validates a config file. Never throws; an unreadable file is one
// error at 0:0.
LoadResult load_config_file(const std::string& path);

// Same, from text; `file_name` is used in messages only.
LoadResult parse_config(std::string_view yaml_text, const std::string& file_name);

// "250ms", "2s", "1m", "1h" (also "1.5s"); nullopt when malformed, negative
// or overflowing.
std::optional<Milliseconds> parse_duration(std::string_view text);

// "host:port" / "[v6]:port" split; nullopt when malformed (no port, port out
// of range, empty host, unbalanced brackets).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> split_host_port(std::string_view text);
// Same; on failure `problem` says why ("missing port"), for messages. The host
// comes without its brackets; it contains a ':' exactly when it had them.
std::optional<HostPort> split_host_port(std::string_view text, std::string& problem);

// split_host_port, then the endpoint: IP literals as they are, names resolved
// now with getaddrinfo (synchronous: call it at load time, never on a worker;
// the first IPv4 result, else the first IPv6 one). Port 0 (ephemeral) only
// when `allow_port_zero`. On failure `problem` says why, for messages.
std::optional<Address> parse_address(std::string_view text, bool allow_port_zero, std::string& problem);

}  // namespace keel::config
