#include "proxy/config/suggest.hpp"

#include <algorithm>
#include <utility>

namespace keel::config {
namespace {

constexpr std::size_t kMaxSuggestions = 3;

// Names newcomers bring from nginx, HAProxy, Envoy and Traefik, mapped to
// keel's. Used only when the keel name is valid where the typo was written.
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"port", "address"},
    {"listen", "address"},
    {"bind", "address"},
    {"url", "address"},
    {"server", "address"},
    {"servers", "backends"},
    {"upstream", "backends"},
    {"upstreams", "backends"},
    {"prefix", "path_prefix"},
    {"location", "path_prefix"},
    {"hostname", "host"},
    {"server_name", "host"},
    {"backend", "pool"},
    {"algorithm", "balance"},
    {"lb_method", "balance"},
    {"lb_policy", "balance"},
    {"strategy", "balance"},
    {"threads", "workers"},
    {"worker_processes", "workers"},
    {"cert", "certificate"},
    {"cert_file", "certificate"},
    {"certificate_file", "certificate"},
    {"ssl_certificate", "certificate"},
    {"key", "private_key"},
    {"key_file", "private_key"},
    {"ssl_certificate_key", "private_key"},
    {"sni", "server_name"},
    {"ssl", "tls"},
    {"keepalive", "idle"},
    {"keepalive_timeout", "idle"},
    {"idle_timeout", "idle"},
    {"connect_timeout", "connect"},
    {"read_timeout", "upstream_header"},
    {"client_max_body_size", "max_body_bytes"},
    {"max_body_size", "max_body_bytes"},
    {"max_fails_timeout", "fail_timeout"},
    {"fall", "unhealthy_threshold"},
    {"rise", "healthy_threshold"},
    {"uri", "path"},
    {"status", "expect_status"},
    {"state", "state_file"},
    {"roundrobin", "round_robin"},
    {"rr", "round_robin"},
    {"leastconn", "least_conn"},
    {"least_connections", "least_conn"},
    {"least_request", "least_conn"},
    {"warning", "warn"},
    {"yes", "true"},
    {"on", "true"},
    {"no", "false"},
    {"off", "false"},
    {"token", "token_file"},
};

std::string normalized(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '-' || c == ' ') c = '_';
  }
  return out;
}

std::size_t distance_limit(std::size_t length) {
  if (length <= 4) return 1;
  if (length <= 8) return 2;
  return 3;
}

bool has_leading_words(std::string_view name, std::string_view words) {
  return name.size() > words.size() && name.starts_with(words) && name[words.size()] == '_';
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rows suffice: the swap looks two rows back.
  std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::vector<std::string_view> closest_names(std::string_view typo, std::span<const std::string_view> known) {
  const std::string wanted = normalized(typo);
  std::vector<std::string_view> found;
  const auto done = [&] { return !found.empty(); };

  for (const std::string_view name : known)
    if (normalized(name) == wanted) found.push_back(name);
  if (done()) return found;

  for (const auto& [alias, name] : kAliases)
    if (alias == wanted && std::find(known.begin(), known.end(), name) != known.end()) found.push_back(name);
  if (done()) return found;

  const std::size_t limit = distance_limit(wanted.size());
  std::size_t best = limit + 1;
  for (const std::string_view name : known) {
    const std::size_t distance = edit_distance(wanted, name);
    if (distance > limit) continue;
    if (distance < best) {
      best = distance;
      found.clear();
    }
    if (distance == best) found.push_back(name);
  }
  if (done()) {
    if (found.size() > kMaxSuggestions) found.resize(kMaxSuggestions);
    return found;
  }

  for (const std::string_view name : known)
    if (has_leading_words(name, wanted) && found.size() < kMaxSuggestions) found.push_back(name);
  return found;
}

std::string did_you_mean(std::string_view typo, std::span<const std::string_view> known) {
  const auto names = closest_names(typo, known);
  if (names.empty()) return {};
  std::string text = "; did you mean ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += "'";
    text += names[i];
    text += "'";
  }
  return text + "?";
}

}  // namespace keel::config
