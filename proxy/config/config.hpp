#pragma once

#include "proxy/log/log.hpp"

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

// A PEM certificate chain (leaf first) and its unencrypted PEM private key,
// paths as configured (relative ones are taken from the working directory).
struct CertificatePair {
  std::string certificate;
  std::string private_key;
};

// A listener serving HTTPS. The first certificate is the default; the others
// are chosen by SNI against their subject alternative names.
struct ListenerTls {
  std::vector<CertificatePair> certificates;
};

struct Listener {
  Address address;
  std::optional<ListenerTls> tls;  // unset: plain HTTP
  // Share the address with other processes that also ask for it (SO_REUSEPORT
  // across processes, e.g. two keels during an upgrade). Off: an address
  // another process already listens on is an error at start.
  bool reuse_port = false;
  // Offer HTTP/2: ALPN "h2" before "http/1.1" with TLS; on a plain listener a
  // client opening with the HTTP/2 connection preface (h2c, prior knowledge).
  bool http2 = true;

  const char* scheme() const { return tls ? "https" : "http"; }
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
  // Streams one HTTP/2 client connection may have open at once (SETTINGS).
  std::uint32_t http2_max_concurrent_streams = 128;
};

enum class ForwardedMode { append, replace };
enum class Balance { round_robin, least_conn };

// A backend's weight; the config, the admin API and the state file accept the same range.
inline constexpr std::uint32_t kMinWeight = 1;
inline constexpr std::uint32_t kMaxWeight = 1'000;

struct Backend {
  Address address;
  std::uint32_t weight = 1;
};

// Active checks: GET `path` on every backend each `interval`; a check passes
// when the status is within [expect_min, expect_max] before `timeout`.
struct HealthCheck {
  std::string path = "/healthz";
  Milliseconds interval{2'000};
  Milliseconds timeout{1'000};  // never longer than interval
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
  std::uint16_t expect_min = 200;
  std::uint16_t expect_max = 399;
};

// Passive checks: `max_fails` consecutive connect failures or timeouts on live
// traffic eject a backend for `fail_timeout`.
struct Passive {
  std::uint32_t max_fails = 3;
  Milliseconds fail_timeout{10'000};
};

// Autoscale signals (docs/configuration.md "autoscale"): keel recommends a pool size;
// whoever listens adds and removes backends through the admin API.
struct Autoscale {
  double target_concurrency = 10;  // in-flight requests per backend; > 0
  std::uint32_t min_backends = 1;  // 0 allows scale from zero
  std::uint32_t max_backends = 20;  // >= max(1, min_backends)
  Milliseconds stable_window{60'000};  // whole seconds
  Milliseconds panic_window{6'000};  // whole seconds, shorter than stable_window
  // POSTed on every change of desired; unset: no webhook.
  struct Webhook {
    std::string url;   // as configured, for messages
    std::string host;  // the Host header: "host:port" as written
    std::string target;  // path (and query), "/" at least
    Address address;  // resolved at load time like backends
  };
  std::optional<Webhook> webhook;
  std::string command;  // run with /bin/sh -c on every change of desired; empty: none
};

// TLS towards a pool's backends. The certificate is verified against the
// system's trust store (or `ca_file`) and `server_name`, which is also sent as
// SNI; without it, the host of each backend's address is used (an IP address is
// then checked against the certificate's IP entries, and no SNI is sent).
struct UpstreamTls {
  bool verify = true;
  std::string ca_file;      // PEM bundle; empty: the system store
  std::string server_name;  // empty: each backend's host
};

struct Pool {
  std::string name;
  Balance balance = Balance::round_robin;
  std::uint32_t retries = 2;
  std::vector<Backend> backends;
  std::optional<HealthCheck> health_check;
  std::optional<Passive> passive;
  std::optional<Autoscale> autoscale;
  std::optional<UpstreamTls> tls;  // unset: plain HTTP to the backends
  // Re-resolve the backends written with a host name this often (nginx's
  // `resolve`); unset: a name is resolved when the config is loaded (start,
  // reload) or the backend added, and never again.
  std::optional<Milliseconds> resolve;
};

// The shortest `resolve` interval: shorter would turn every keel into a DNS load generator.
inline constexpr Milliseconds kMinResolveInterval{100};

struct Route {
  std::string host;         // empty: any host; compared case-insensitively, port ignored
  std::string path_prefix;  // empty: any path
  std::string pool;
  std::size_t pool_index = 0;  // index into Config::pools, resolved by the loader
};

struct AdminConfig {
  Address address;
  // The bearer token itself: from token_file, else KEEL_ADMIN_TOKEN; empty
  // means none. Never log it or put it in a message.
  std::string token;
  std::string token_file;  // as configured; empty when not set
};

enum class AccessLogFormat { combined, json };

// One line per request, written off the worker threads. Absent: no access log.
struct AccessLog {
  std::string path;  // a file (appended to; reopened on SIGUSR1), or "stdout"
  AccessLogFormat format = AccessLogFormat::combined;
};

// Cluster mode (docs/cluster.md): the backend lists live in etcd, shared by
// every instance; spoken to through etcd's v3 JSON gateway.
struct EtcdEndpoint {
  std::string url;   // as written: "http://127.0.0.1:2379"
  bool https = false;
  std::string host;  // without brackets
  std::uint16_t port = 0;
};

struct EtcdTls {
  std::string ca_file;      // empty: the system trust store
  std::string certificate;  // client certificate (PEM), with private_key; may be empty
  std::string private_key;
};

struct Cluster {
  // Unique per instance. Empty: hostname + ":" + the admin port (resolved at start).
  std::string instance;
  std::vector<EtcdEndpoint> endpoints;
  std::string prefix = "/keel/";  // always ends with '/'
  std::string username;           // empty: no etcd authentication
  std::string password;           // from password_file or KEEL_ETCD_PASSWORD; never logged
  std::string password_file;      // as configured
  std::optional<EtcdTls> tls;
  // How long a dead instance stays listed and keeps leadership (whole seconds).
  Milliseconds lease_ttl{10'000};
};

// The operational log on stderr (not the access log). A reload applies both.
struct LogSettings {
  log::Level level = log::Level::info;
  log::Format format = log::Format::text;
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
  std::optional<AdminConfig> admin;
  std::string state_file;  // empty: runtime pool changes are not persisted
  std::optional<AccessLog> access_log;
  LogSettings log;
  std::optional<Cluster> cluster;  // unset: pool state is this instance's alone
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
  // Accepted but worth telling the operator (an expired certificate).
  std::vector<ConfigError> warnings;
};

// Reads and validates a config file. Never throws; an unreadable file is one
// error at 0:0. Also reads admin.token_file and, without it, the environment
// variable KEEL_ADMIN_TOKEN (as parse_config does).
LoadResult load_config_file(const std::string& path);

// Same, from text; `file_name` is used in messages only.
LoadResult parse_config(std::string_view yaml_text, const std::string& file_name);

// "250ms", "2s", "1m", "1h" (also "1.5s"); nullopt when malformed, negative
// or overflowing.
std::optional<Milliseconds> parse_duration(std::string_view text);

// For a duration that did not parse, what its author probably meant, quoted
// for a message: "'2s'" for a bare 2, "'300ms' or '300s'" for a bare 300,
// "'2000ms', that is '2s'" for a bare 2000, "'2s'" for "2 sec". Empty when
// there is no good guess.
std::string duration_suggestion(std::string_view text);

// "host:port" / "[v6]:port" split; nullopt when malformed (no port, port out
// of range, empty host, unbalanced brackets).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> split_host_port(std::string_view text);
// Same; on failure `problem` says why ("missing port"), for messages. The host
// comes without its brackets; it contains a ':' exactly when it had them.
// Port 0 only when `allow_port_zero`.
std::optional<HostPort> split_host_port(std::string_view text, std::string& problem, bool allow_port_zero = true);

// split_host_port, then the endpoint: IP literals as they are, names resolved
// now with getaddrinfo (synchronous: call it at load time, never on a worker;
// the first IPv4 result, else the first IPv6 one). Port 0 (ephemeral) only
// when `allow_port_zero`. On failure `problem` says why, for messages.
std::optional<Address> parse_address(std::string_view text, bool allow_port_zero, std::string& problem);

// The endpoint addresses are compared by: an IPv4-mapped IPv6 address
// ([::ffff:127.0.0.1]) is the IPv4 address it maps. Connecting is unchanged.
boost::asio::ip::tcp::endpoint canonical_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);
// One backend, one entry: "127.0.0.1:8081", "localhost:8081", "127.0.0.1:08081"
// and "[::ffff:127.0.0.1]:8081" are the same (their canonical endpoints are equal).
bool same_endpoint(const boost::asio::ip::tcp::endpoint& a, const boost::asio::ip::tcp::endpoint& b);

// An expected HTTP status: "200" or a range "200-399", each from 100 to 599,
// min <= max. On failure `problem` says why, for messages.
struct StatusRange {
  std::uint16_t min = 0;
  std::uint16_t max = 0;
};
std::optional<StatusRange> parse_status_range(std::string_view text, std::string& problem);

}  // namespace keel::config
