// The admin API's routes (docs/admin-api.md) as a pure function of one request:
// no sockets, so every status code of the contract is unit-testable. AdminServer feeds it.
#pragma once

#include "proxy/admin/pool_admin.hpp"

#include <boost/json/value.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::admin {

struct AdminRequest {
  std::string_view method{};  // as sent, case-sensitive ("GET")
  std::string_view target{};  // origin-form ("/api/v1/pools?x=1") or absolute-form
  std::string_view body{};
  std::optional<std::string_view> authorization{};  // the Authorization field, if sent
};

// A change that has not ended yet (cluster mode): the server waits for
// `change`, then asks AdminRoutes::complete for the answer.
struct DeferredAnswer {
  std::shared_ptr<PendingChange> change;
  int success_status = 200;
  std::string pool;
  std::vector<std::pair<std::string, std::string>> success_headers;  // Location of an added backend
};

struct AdminResponse {
  int status = 200;
  boost::json::value body{};  // a JSON object; {"error": "..."} for 4xx/5xx
  std::vector<std::pair<std::string, std::string>> headers{};  // besides Content-Type
  // When set, sent instead of `body`, with this Content-Type (/metrics).
  std::optional<std::string> text{};
  std::string_view content_type{};
  std::optional<DeferredAnswer> deferred{};  // set: not the answer yet, see DeferredAnswer
};

// The bearer-token check. Keeps only a SHA-256 digest of the token and compares digests
// with CRYPTO_memcmp, so the time taken depends on neither the configured token's
// length nor where a guess differs from it.
class BearerAuth {
 public:
  // An empty token turns authentication off.
  explicit BearerAuth(std::string_view token);

  bool is_enabled() const { return enabled_; }
  // True for "Bearer TOKEN" (scheme case-insensitive) with the configured token.
  bool accepts(std::optional<std::string_view> authorization) const;

 private:
  bool enabled_ = false;
  std::array<unsigned char, 32> digest_{};
};

class AdminRoutes {
 public:
  // `token`: the admin token, empty for none. It is not stored (see BearerAuth).
  explicit AdminRoutes(std::string_view token = {});

  // Control thread. Answers one request, calling `admin` synchronously for changes.
  // Throws only what `admin` throws.
  AdminResponse handle(const AdminRequest& request, PoolAdmin& admin) const;

  // The answer to a deferred change once it has ended with `outcome`.
  AdminResponse complete(const DeferredAnswer& deferred, const Outcome& outcome, const PoolAdmin& admin) const;

  // The 401 for a request that lacks a valid token where one is needed, from its
  // target and Authorization alone (the body is ignored): the server asks this once
  // the header is read, before it reads (or limits) the body. nullopt: go on.
  std::optional<AdminResponse> refuse_unauthorized(const AdminRequest& request) const;

 private:
  BearerAuth auth_;
};

// "/api/v1/pools/web" → {"api", "v1", "pools", "web"}: the path of `target` (query
// dropped, absolute-form reduced to its path) split at '/', each segment
// percent-decoded. Empty segments are kept. nullopt on a malformed %-escape.
std::optional<std::vector<std::string>> decode_path(std::string_view target);

// Percent-encodes a path segment (everything but unreserved characters and ':').
std::string encode_path_segment(std::string_view segment);

}  // namespace keel::admin
