// Boost.JSON <-> the admin API's views (docs/admin-api.md). Parsing is strict:
// unknown fields, wrong types and out-of-range values are refused with a message meant
// for the client, every problem of a body at once ("; "-separated).
#pragma once

#include "proxy/admin/pool_admin.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::admin {

// A PATCH body: at least one of the two is set.
struct BackendPatch {
  std::optional<std::uint32_t> weight{};
  std::optional<AdminState> state{};
};

// A parsed body, or why it was refused (`error` is the text of a 400 {"error": ...}).
template <class T>
struct Parsed {
  T value{};
  std::string error{};

  bool ok() const { return error.empty(); }
};

// POST body: {"address": "host:port", "weight": 1..1000 (optional, default 1)}.
Parsed<BackendRequest> parse_backend(std::string_view body);
// PUT body: a JSON array of POST bodies; may be empty.
Parsed<std::vector<BackendRequest>> parse_backend_list(std::string_view body);
// PATCH body: {"weight": 1..1000} and/or {"state": "active" | "draining"}.
Parsed<BackendPatch> parse_patch(std::string_view body);

std::string_view to_string(AdminState state);

// {"address", "weight", "state", "health", "active_requests", "total_requests"}, in
// that order, then "check" and "ejected" when set.
boost::json::object to_json(const BackendInfo& backend);
// {"name", "balance", "backends": [...]}.
boost::json::object to_json(const PoolInfo& pool);
// {"current", "desired", "observed_concurrency", "mode"} (the pool is in the URL).
boost::json::object to_json(const AutoscaleInfo& autoscale);
// GET /api/v1/cluster.
boost::json::object to_json(const ClusterInfo& cluster);
// {"pools": [...]}.
boost::json::object to_json(const std::vector<PoolInfo>& pools);
// {"error": message}.
boost::json::object error_json(std::string_view message);

// The JSON text of `value`, as boost::json::serialize writes it except for
// numbers with a fraction: plain decimals ("32.0", "0.25", "1500.0") where Boost
// writes "3.2E1"; NaN and infinities, which JSON cannot hold, become null.
// Integers stay integers ("0"). Every JSON answer and webhook body goes through it.
std::string json_text(const boost::json::value& value);

}  // namespace keel::admin
