#include "proxy/admin/json_codec.hpp"

#include "proxy/config/config.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <charconv>
#include <cmath>
#include <optional>
#include <system_error>
#include <utility>

namespace keel::admin {
namespace {

namespace json = boost::json;

// A body with thousands of bad entries gets a readable answer, not a megabyte.
constexpr std::size_t kMaxReportedProblems = 20;

// Every problem of one body, each with its place ("backends[2]: ...").
class Problems {
 public:
  void add(std::string_view place, std::string message) {
    ++count_;
    if (count_ > kMaxReportedProblems) return;
    if (!text_.empty()) text_ += "; ";
    text_ += place;
    text_ += message;
  }

  bool empty() const { return count_ == 0; }

  std::string text() const {
    if (count_ <= kMaxReportedProblems) return text_;
    return text_ + "; and " + std::to_string(count_ - kMaxReportedProblems) + " more";
  }

 private:
  std::string text_;
  std::size_t count_ = 0;
};

std::string_view describe_kind(const json::value& value) {
  switch (value.kind()) {
    case json::kind::object: return "an object";
    case json::kind::array: return "an array";
    case json::kind::string: return "a string";
    case json::kind::bool_: return "a boolean";
    case json::kind::null: return "null";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
  }
  return "a value";
}

// The body as one JSON document, or the 400 message. `expected` names what the route
// wants ("a JSON object").
std::optional<json::value> parse_document(std::string_view body, std::string_view expected,
                                          std::string& error) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    error = "request body is empty; expected ";
    error += expected;
    return std::nullopt;
  }
  json::parser parser;
  json::error_code ec;
  const std::size_t used = parser.write(body.data(), body.size(), ec);
  if (ec) {
    error = "request body is not valid JSON (" + ec.message() + " at offset " + std::to_string(used) + ")";
    return std::nullopt;
  }
  return parser.release();
}

std::string wrong_kind(std::string_view expected, const json::value& value) {
  std::string message = "expected ";
  message += expected;
  message += ", got ";
  message += describe_kind(value);
  return message;
}

std::string unknown_field(std::string_view key) {
  std::string message = "unknown field '";
  message += key;
  message += "'";
  return message;
}

std::optional<std::uint32_t> read_weight(const json::value& value, std::string_view place, Problems& problems) {
  if (value.is_int64() || value.is_uint64()) {
    const bool in_range = value.is_int64() && value.get_int64() >= config::kMinWeight && value.get_int64() <= config::kMaxWeight;
    if (in_range) return static_cast<std::uint32_t>(value.get_int64());
    problems.add(place, "weight must be from " + std::to_string(config::kMinWeight) + " to " + std::to_string(config::kMaxWeight) +
                            ", got " + json::serialize(value));
    return std::nullopt;
  }
  problems.add(place, "weight must be an integer from " + std::to_string(config::kMinWeight) + " to " +
                          std::to_string(config::kMaxWeight) + ", got " + std::string(describe_kind(value)));
  return std::nullopt;
}

// One {"address", "weight"} object; problems are reported with `place` in front.
BackendRequest read_backend(const json::value& value, std::string_view place, Problems& problems) {
  BackendRequest backend;
  const json::object* object = value.if_object();
  if (object == nullptr) {
    problems.add(place, wrong_kind("a JSON object", value));
    return backend;
  }
  if (const json::value* address = object->if_contains("address")) {
    if (const json::string* text = address->if_string()) {
      if (text->empty()) problems.add(place, "address must not be empty");
      backend.address.assign(text->data(), text->size());
    } else {
      problems.add(place, "address must be a string (host:port), got " + std::string(describe_kind(*address)));
    }
  } else {
    problems.add(place, "missing field 'address'");
  }
  if (const json::value* weight = object->if_contains("weight")) {
    if (const auto parsed = read_weight(*weight, place, problems)) backend.weight = *parsed;
  }
  for (const auto& field : *object) {
    if (field.key() != "address" && field.key() != "weight") problems.add(place, unknown_field(field.key()));
  }
  return backend;
}

template <class T>
Parsed<T> refused(std::string error) {
  Parsed<T> parsed;
  parsed.error = std::move(error);
  return parsed;
}

}  // namespace

Parsed<BackendRequest> parse_backend(std::string_view body) {
  std::string error;
  const auto document = parse_document(body, "a JSON object", error);
  if (!document) return refused<BackendRequest>(std::move(error));
  Problems problems;
  Parsed<BackendRequest> parsed;
  parsed.value = read_backend(*document, "", problems);
  parsed.error = problems.text();
  return parsed;
}

Parsed<std::vector<BackendRequest>> parse_backend_list(std::string_view body) {
  constexpr std::string_view kExpected = "a JSON array of backends";
  std::string error;
  const auto document = parse_document(body, kExpected, error);
  if (!document) return refused<std::vector<BackendRequest>>(std::move(error));
  const json::array* array = document->if_array();
  if (array == nullptr) return refused<std::vector<BackendRequest>>(wrong_kind(kExpected, *document));
  Problems problems;
  Parsed<std::vector<BackendRequest>> parsed;
  parsed.value.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string place = "backends[" + std::to_string(i) + "]: ";
    parsed.value.push_back(read_backend((*array)[i], place, problems));
  }
  parsed.error = problems.text();
  return parsed;
}

Parsed<BackendPatch> parse_patch(std::string_view body) {
  std::string error;
  const auto document = parse_document(body, "a JSON object", error);
  if (!document) return refused<BackendPatch>(std::move(error));
  const json::object* object = document->if_object();
  if (object == nullptr) return refused<BackendPatch>(wrong_kind("a JSON object", *document));
  Problems problems;
  Parsed<BackendPatch> parsed;
  const json::value* weight = object->if_contains("weight");
  const json::value* state = object->if_contains("state");
  if (weight != nullptr) parsed.value.weight = read_weight(*weight, "", problems);
  if (state != nullptr) {
    const json::string* text = state->if_string();
    if (text != nullptr && *text == "active") parsed.value.state = AdminState::active;
    else if (text != nullptr && *text == "draining") parsed.value.state = AdminState::draining;
    else problems.add("", "state must be 'active' or 'draining'");
  }
  for (const auto& field : *object) {
    if (field.key() != "weight" && field.key() != "state") problems.add("", unknown_field(field.key()));
  }
  if (weight == nullptr && state == nullptr) problems.add("", "expected 'weight' or 'state'");
  parsed.error = problems.text();
  return parsed;
}

std::string_view to_string(AdminState state) {
  switch (state) {
    case AdminState::active: return "active";
    case AdminState::draining: return "draining";
  }
  return "active";
}

json::object to_json(const BackendInfo& backend) {
  json::object object{
      {"address", backend.address},
      {"weight", backend.weight},
      {"state", backend.state},
      {"health", backend.health},
      {"active_requests", backend.active_requests},
      {"total_requests", backend.total_requests},
  };
  if (const auto& check = backend.check) {
    object["check"] = json::object{
        {"last", check->last},
        {"result", check->passed ? "pass" : "fail"},
        {"detail", check->detail},
        {"latency_ms", check->latency_ms},
        {"consecutive", check->consecutive},
    };
  }
  if (const auto& ejected = backend.ejected)
    object["ejected"] = json::object{{"until", ejected->until}, {"reason", ejected->reason}};
  return object;
}

json::object to_json(const PoolInfo& pool) {
  json::array backends;
  backends.reserve(pool.backends.size());
  for (const BackendInfo& backend : pool.backends) backends.emplace_back(to_json(backend));
  return json::object{
      {"name", pool.name},
      {"balance", pool.balance},
      {"backends", std::move(backends)},
  };
}

json::object to_json(const AutoscaleInfo& autoscale) {
  json::object out{
      {"current", autoscale.current},
      {"desired", autoscale.desired},
      {"observed_concurrency", autoscale.observed_concurrency},
      {"mode", autoscale.mode},
  };
  if (!autoscale.decided_by.empty()) out["decided_by"] = autoscale.decided_by;
  return out;
}

json::object to_json(const ClusterInfo& cluster) {
  json::array instances;
  for (const auto& instance : cluster.instances)
    instances.push_back(json::object{{"instance", instance.instance},
                                     {"applied_revision", instance.applied_revision},
                                     {"started", instance.started}});
  json::object out{{"instance", cluster.instance}};
  out["leader"] = cluster.leader.empty() ? json::value(nullptr) : json::value(cluster.leader);
  out["etcd"] = json::object{{"connected", cluster.connected},
                             {"revision", cluster.revision},
                             {"endpoint", cluster.endpoint}};
  out["applied_revision"] = cluster.applied_revision;
  out["stale"] = cluster.stale;
  out["instances"] = std::move(instances);
  return out;
}

json::object to_json(const std::vector<PoolInfo>& pools) {
  json::array array;
  array.reserve(pools.size());
  for (const PoolInfo& pool : pools) array.emplace_back(to_json(pool));
  return json::object{{"pools", std::move(array)}};
}

json::object error_json(std::string_view message) { return json::object{{"error", message}}; }

namespace {

// Shortest fixed notation that reads back as the same double, with ".0" on whole
// numbers so that a fraction-bearing field keeps looking like one.
void append_decimal(double number, std::string& out) {
  if (!std::isfinite(number)) {
    out += "null";
    return;
  }
  char buffer[512];  // the longest fixed double (about 1.8e308) has 309 digits
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number, std::chars_format::fixed);
  if (ec != std::errc{}) {
    out += json::serialize(json::value(number));  // cannot happen with this buffer; stay valid JSON
    return;
  }
  const std::string_view text(buffer, static_cast<std::size_t>(end - buffer));
  out += text;
  if (text.find('.') == std::string_view::npos) out += ".0";
}

void append_json(const json::value& value, std::string& out) {
  switch (value.kind()) {
    case json::kind::double_:
      append_decimal(value.get_double(), out);
      return;
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& field : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string_view(field.key()));
        out += ':';
        append_json(field.value(), out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json(item, out);
      }
      out += ']';
      return;
    }
    default:
      out += json::serialize(value);  // strings, integers, booleans, null: Boost's text is plain
      return;
  }
}

}  // namespace

std::string json_text(const json::value& value) {
  std::string out;
  append_json(value, out);
  return out;
}

}  // namespace keel::admin
