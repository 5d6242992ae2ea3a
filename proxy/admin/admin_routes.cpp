#include "proxy/admin/admin_routes.hpp"

#include "proxy/admin/dashboard.hpp"
#include "proxy/admin/json_codec.hpp"
#include "proxy/metrics/exposition.hpp"

#include <boost/json/object.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace keel::admin {
namespace {

namespace json = boost::json;

constexpr std::string_view kAllowRead = "GET, HEAD";
constexpr std::string_view kAllowBackends = "POST, PUT";
constexpr std::string_view kAllowBackend = "PATCH, DELETE";

std::array<unsigned char, 32> sha256(std::string_view data) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  // Cannot fail for SHA-256 short of memory exhaustion; a zero digest then just fails
  // the comparison against a real token's digest.
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

AdminResponse reply(int status, json::object body) { return AdminResponse{.status = status, .body = std::move(body)}; }

AdminResponse error(int status, std::string_view message) { return reply(status, error_json(message)); }

AdminResponse not_found() { return error(404, "not found"); }

AdminResponse method_not_allowed(std::string_view allow) {
  AdminResponse response = error(405, "method not allowed; allowed: " + std::string(allow));
  response.headers.emplace_back("Allow", allow);
  return response;
}

AdminResponse unauthorized() {
  AdminResponse response = error(401, "missing or invalid bearer token");
  response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

std::string_view default_message(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 409: return "conflict";
    case 503: return "unavailable";
    default: return "internal error";
  }
}

// The answer to a change: the contract's success status with the pool as it is now, or
// the control plane's error. The route, not the control plane, owns the success code.
AdminResponse answer_change(const Outcome& outcome, int success_status, std::string_view pool_name,
                            const PoolAdmin& admin,
                            std::vector<std::pair<std::string, std::string>> success_headers = {}) {
  if (outcome.pending)
    return AdminResponse{.status = 202, .body = {}, .headers = {}, .text = std::nullopt, .content_type = {},
                         .deferred = DeferredAnswer{.change = outcome.pending,
                                                    .success_status = success_status,
                                                    .pool = std::string(pool_name),
                                                    .success_headers = std::move(success_headers)}};
  if (!outcome.ok()) {
    const int status = outcome.status >= 400 && outcome.status <= 599 ? outcome.status : 500;
    AdminResponse response =
        error(status, outcome.error.empty() ? default_message(status) : std::string_view(outcome.error));
    if (status == 503 && outcome.retry_after_seconds > 0)
      response.headers.emplace_back("Retry-After", std::to_string(outcome.retry_after_seconds));
    return response;
  }
  const auto pool = admin.pool(pool_name);
  AdminResponse response = reply(success_status, pool ? to_json(*pool) : json::object{});
  response.headers = std::move(success_headers);
  return response;
}

std::string unknown_pool(std::string_view name) { return "unknown pool '" + std::string(name) + "'"; }

}  // namespace

BearerAuth::BearerAuth(std::string_view token) : enabled_(!token.empty()) {
  if (enabled_) digest_ = sha256(token);
}

bool BearerAuth::accepts(std::optional<std::string_view> authorization) const {
  if (!enabled_) return true;
  if (!authorization) return false;
  const std::string_view value = trim(*authorization);
  const auto space = value.find_first_of(" \t");
  if (space == std::string_view::npos || !iequals(value.substr(0, space), "Bearer")) return false;
  const std::string_view token = trim(value.substr(space));
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return false;
  const auto presented = sha256(token);
  return CRYPTO_memcmp(presented.data(), digest_.data(), digest_.size()) == 0;
}

std::optional<std::vector<std::string>> decode_path(std::string_view target) {
  // Absolute-form ("http://host:port/path") is legal HTTP/1.1; keep only its path.
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      const auto slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  target = target.substr(0, target.find_first_of("?#"));
  std::vector<std::string> segments;
  if (!target.starts_with('/')) return segments;
  target.remove_prefix(1);
  for (;;) {
    const auto slash = target.find('/');
    auto segment = percent_decode(target.substr(0, slash));
    if (!segment) return std::nullopt;
    segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    target.remove_prefix(slash + 1);
  }
  return segments;
}

std::string encode_path_segment(std::string_view segment) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (const char c : segment) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~' || c == ':';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

AdminRoutes::AdminRoutes(std::string_view token) : auth_(token) {}

std::optional<AdminResponse> AdminRoutes::refuse_unauthorized(const AdminRequest& request) const {
  if (!auth_.is_enabled()) return std::nullopt;
  const auto segments = decode_path(request.target);
  // Decided on the decoded path, so "/%61pi/..." cannot slip past; a path that does not
  // decode is refused only after authentication, so it reveals nothing either.
  const bool is_api = !segments || (!segments->empty() && (*segments)[0] == "api");
  if (is_api && !auth_.accepts(request.authorization)) return unauthorized();
  return std::nullopt;
}

AdminResponse AdminRoutes::complete(const DeferredAnswer& deferred, const Outcome& outcome,
                                   const PoolAdmin& admin) const {
  Outcome final_outcome = outcome;
  final_outcome.pending = nullptr;
  if (final_outcome.ok()) final_outcome.status = deferred.success_status;
  return answer_change(final_outcome, deferred.success_status, deferred.pool, admin, deferred.success_headers);
}

AdminResponse AdminRoutes::handle(const AdminRequest& request, PoolAdmin& admin) const {
  if (auto refused = refuse_unauthorized(request)) return std::move(*refused);
  const auto segments = decode_path(request.target);
  if (!segments) return error(400, "malformed percent-encoding in the request path");

  const std::vector<std::string>& path = *segments;
  const std::string_view method = request.method;
  const bool is_read = method == "GET" || method == "HEAD";

  if (path.size() == 1 && path[0] == "healthz") {
    if (!is_read) return method_not_allowed(kAllowRead);
    return reply(200, json::object{{"status", "ok"}});
  }
  // Open like /healthz (the token guards /api/ only, docs/admin-api.md, as nginx and Envoy
  // leave stats open on their admin port): the admin address is the access control.
  if (path.size() == 1 && path[0] == "metrics") {
    if (!is_read) return method_not_allowed(kAllowRead);
    return AdminResponse{.status = 200, .body = {}, .headers = {}, .text = admin.metrics_text(),
                         .content_type = metrics::kExpositionContentType};
  }
  if (auto page = dashboard_response(path, method)) return std::move(*page);
  if (path.size() == 3 && path[0] == "api" && path[1] == "v1" && path[2] == "cluster") {
    if (!is_read) return method_not_allowed(kAllowRead);
    const auto cluster = admin.cluster();
    if (!cluster) return error(404, "cluster mode is off (no 'cluster' section in the config)");
    return reply(200, to_json(*cluster));
  }
  if (path.size() < 3 || path[0] != "api" || path[1] != "v1" || path[2] != "pools") return not_found();
  if (path.size() == 3) {
    if (!is_read) return method_not_allowed(kAllowRead);
    return reply(200, to_json(admin.pools()));
  }
  const std::string& pool = path[3];
  if (pool.empty()) return not_found();
  if (path.size() == 4) {
    if (!is_read) return method_not_allowed(kAllowRead);
    const auto info = admin.pool(pool);
    if (!info) return error(404, unknown_pool(pool));
    return reply(200, to_json(*info));
  }
  if (path[4] == "autoscale" && path.size() == 5) {
    if (!is_read) return method_not_allowed(kAllowRead);
    if (!admin.pool(pool)) return error(404, unknown_pool(pool));
    for (const AutoscaleInfo& info : admin.autoscaling())
      if (info.pool == pool) return reply(200, to_json(info));
    return error(404, "pool '" + pool + "' is not autoscaled (it has no 'autoscale' settings)");
  }
  if (path[4] != "backends") return not_found();
  if (path.size() == 5) {
    if (method == "POST") {
      const auto parsed = parse_backend(request.body);
      if (!parsed.ok()) return error(400, parsed.error);
      std::vector<std::pair<std::string, std::string>> location{
          {"Location", "/api/v1/pools/" + encode_path_segment(pool) + "/backends/" +
                           encode_path_segment(parsed.value.address)}};
      return answer_change(admin.add_backend(pool, parsed.value), 201, pool, admin, std::move(location));
    }
    if (method == "PUT") {
      const auto parsed = parse_backend_list(request.body);
      if (!parsed.ok()) return error(400, parsed.error);
      return answer_change(admin.replace_backends(pool, parsed.value), 200, pool, admin);
    }
    return method_not_allowed(kAllowBackends);
  }
  const std::string& address = path[5];
  if (path.size() != 6 || address.empty()) return not_found();
  if (method == "PATCH") {
    const auto parsed = parse_patch(request.body);
    if (!parsed.ok()) return error(400, parsed.error);
    return answer_change(admin.patch_backend(pool, address, parsed.value.weight, parsed.value.state), 200, pool,
                         admin);
  }
  if (method == "DELETE") return answer_change(admin.remove_backend(pool, address), 202, pool, admin);
  return method_not_allowed(kAllowBackend);
}

}  // namespace keel::admin
