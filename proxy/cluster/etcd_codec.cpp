#include "proxy/cluster/etcd_codec.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <charconv>

namespace keel::cluster {
namespace {

namespace json = boost::json;

std::string int64_text(std::int64_t value) { return std::to_string(value); }

std::optional<std::int64_t> parse_int64(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

const json::object* object_field(const json::object& object, std::string_view field) {
  const auto* value = object.if_contains(field);
  return value ? value->if_object() : nullptr;
}

json::object operation_json(const Compare& compare) {
  const bool create = compare.target == Compare::Target::create;
  json::object out;
  out["key"] = base64_encode(compare.key);
  out["target"] = create ? "CREATE" : "MOD";
  out[create ? "create_revision" : "mod_revision"] = int64_text(compare.revision);
  out["result"] = "EQUAL";
  return out;
}

json::object operation_json(const Operation& operation) {
  json::object request;
  request["key"] = base64_encode(operation.key);
  json::object out;
  if (operation.kind == Operation::Kind::remove) {
    out["request_delete_range"] = std::move(request);
    return out;
  }
  if (operation.kind == Operation::Kind::range) {
    out["request_range"] = std::move(request);
    return out;
  }
  request["value"] = base64_encode(operation.value);
  if (operation.lease != 0) request["lease"] = int64_text(operation.lease);
  out["request_put"] = std::move(request);
  return out;
}

template <class Item>
json::array operations_json(const std::vector<Item>& items) {
  json::array out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(operation_json(item));
  return out;
}

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(size));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 1, '\0');
  const int size = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (size < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(size) - padding);
  return out;
}

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::optional<std::int64_t> read_int64(const json::object& object, std::string_view field) {
  const auto* value = object.if_contains(field);
  if (!value) return 0;
  if (const auto* text = value->if_string()) return parse_int64(*text);
  if (const auto* number = value->if_int64()) return *number;
  if (const auto* number = value->if_uint64(); number && *number <= INT64_MAX) return static_cast<std::int64_t>(*number);
  return std::nullopt;
}

std::optional<EtcdError> read_error(const json::object& reply) {
  const auto* error = reply.if_contains("error");
  const auto* code = reply.if_contains("code");
  if (!error && !code) return std::nullopt;
  EtcdError out;
  if (const auto* object = error ? error->if_object() : nullptr) {  // a stream's {"error":{"grpc_code","message"}}
    if (const auto* code_value = object->if_contains("grpc_code"); code_value && code_value->is_int64())
      out.code = static_cast<int>(code_value->as_int64());
    if (const auto* message = object->if_contains("message"); message && message->is_string())
      out.message = message->as_string();
    if (out.message.empty()) out.message = "etcd error " + std::to_string(out.code);
    return out;
  }
  if (code && code->is_int64()) out.code = static_cast<int>(code->as_int64());
  if (const auto* message = reply.if_contains("message"); message && message->is_string())
    out.message = message->as_string();
  else if (error && error->is_string())
    out.message = error->as_string();
  if (out.message.empty()) out.message = "etcd error " + std::to_string(out.code);
  return out;
}

std::optional<Header> read_header(const json::object& reply) {
  const auto* header = object_field(reply, "header");
  if (!header) return std::nullopt;
  const auto revision = read_int64(*header, "revision");
  const auto cluster = read_int64(*header, "cluster_id");
  if (!revision) return std::nullopt;
  Header out{.revision = *revision};
  // cluster_id is a uint64 in decimal; it does not fit an int64 half the time.
  if (const auto* text = header->if_contains("cluster_id"); text && text->is_string()) {
    const std::string_view digits = text->as_string();
    std::from_chars(digits.data(), digits.data() + digits.size(), out.cluster_id);
  } else if (cluster) {
    out.cluster_id = static_cast<std::uint64_t>(*cluster);
  }
  return out;
}

std::optional<KeyValue> read_key_value(const json::object& kv) {
  KeyValue out;
  const auto text = [&](std::string_view field, std::string& to) {
    const auto* value = kv.if_contains(field);
    if (!value) return true;
    if (!value->is_string()) return false;
    auto decoded = base64_decode(value->as_string());
    if (!decoded) return false;
    to = std::move(*decoded);
    return true;
  };
  if (!text("key", out.key) || !text("value", out.value) || out.key.empty()) return std::nullopt;
  const auto create = read_int64(kv, "create_revision");
  const auto mod = read_int64(kv, "mod_revision");
  const auto lease = read_int64(kv, "lease");
  if (!create || !mod || !lease) return std::nullopt;
  out.create_revision = *create;
  out.mod_revision = *mod;
  out.lease = *lease;
  return out;
}

std::optional<std::vector<KeyValue>> read_key_values(const json::object& reply) {
  std::vector<KeyValue> out;
  const auto* kvs = reply.if_contains("kvs");
  if (!kvs) return out;
  const auto* items = kvs->if_array();
  if (!items) return std::nullopt;
  out.reserve(items->size());
  for (const auto& item : *items) {
    const auto* object = item.if_object();
    auto kv = object ? read_key_value(*object) : std::nullopt;
    if (!kv) return std::nullopt;
    out.push_back(std::move(*kv));
  }
  return out;
}

std::string range_request(std::string_view key, std::string_view range_end, std::int64_t revision,
                          bool serializable) {
  json::object body;
  body["key"] = base64_encode(key);
  if (!range_end.empty()) body["range_end"] = base64_encode(range_end);
  if (revision > 0) body["revision"] = int64_text(revision);
  if (serializable) body["serializable"] = true;
  return json::serialize(body);
}

std::string watch_request(std::string_view key, std::string_view range_end, std::int64_t start_revision) {
  json::object create;
  create["key"] = base64_encode(key);
  if (!range_end.empty()) create["range_end"] = base64_encode(range_end);
  if (start_revision > 0) create["start_revision"] = int64_text(start_revision);
  create["progress_notify"] = true;
  json::object body;
  body["create_request"] = std::move(create);
  return json::serialize(body);
}

std::string lease_grant_request(std::int64_t ttl_seconds) {
  json::object body;
  body["TTL"] = int64_text(ttl_seconds);
  return json::serialize(body);
}

std::string lease_keepalive_request(std::int64_t lease) {
  json::object body;
  body["ID"] = int64_text(lease);
  return json::serialize(body);
}

std::string authenticate_request(std::string_view name, std::string_view password) {
  json::object body;
  body["name"] = name;
  body["password"] = password;
  return json::serialize(body);
}

std::string txn_request(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                        const std::vector<Operation>& failure) {
  json::object body;
  body["compare"] = operations_json(compares);
  body["success"] = operations_json(success);
  if (!failure.empty()) body["failure"] = operations_json(failure);
  return json::serialize(body);
}

bool txn_succeeded(const json::object& reply) {
  const auto* succeeded = reply.if_contains("succeeded");
  return succeeded && succeeded->is_bool() && succeeded->as_bool();
}

std::vector<KeyValue> txn_ranges(const json::object& reply) {
  std::vector<KeyValue> out;
  const auto* responses = reply.if_contains("responses");
  if (!responses || !responses->is_array()) return out;
  for (const auto& response : responses->as_array()) {
    const auto* object = response.if_object();
    const auto* range = object ? object_field(*object, "response_range") : nullptr;
    if (!range) continue;
    if (auto kvs = read_key_values(*range)) out.insert(out.end(), kvs->begin(), kvs->end());
  }
  return out;
}

WatchMessage read_watch_message(const json::value& message) {
  WatchMessage out;
  const auto* object = message.if_object();
  if (!object) {
    out.reason = "not a JSON object";
    return out;
  }
  if (auto error = read_error(*object)) {
    out.kind = WatchMessage::Kind::error;
    out.reason = error->message;
    return out;
  }
  const auto* result = object_field(*object, "result");
  if (!result) {
    out.reason = "no result";
    return out;
  }
  const auto canceled = result->if_contains("canceled");
  if (canceled && canceled->is_bool() && canceled->as_bool()) {
    out.kind = WatchMessage::Kind::canceled;
    const auto compact = read_int64(*result, "compact_revision");
    out.compact_revision = compact.value_or(0);
    if (const auto* reason = result->if_contains("cancel_reason"); reason && reason->is_string())
      out.reason = reason->as_string();
    else
      out.reason = out.compact_revision > 0 ? "revision compacted" : "canceled";
    if (auto header = read_header(*result)) out.header = *header;
    return out;
  }
  auto header = read_header(*result);
  if (!header) {
    out.reason = "no header";
    return out;
  }
  out.header = *header;
  if (const auto created = result->if_contains("created"); created && created->is_bool() && created->as_bool()) {
    out.kind = WatchMessage::Kind::created;
    return out;
  }
  const auto* events = result->if_contains("events");
  if (!events) {
    out.kind = WatchMessage::Kind::progress;
    return out;
  }
  const auto* items = events->if_array();
  if (!items) {
    out.reason = "events is not a list";
    return out;
  }
  for (const auto& item : *items) {
    const auto* event = item.if_object();
    const auto* kv = event ? object_field(*event, "kv") : nullptr;
    auto parsed = kv ? read_key_value(*kv) : std::nullopt;
    if (!parsed) {
      out.reason = "malformed event";
      out.events.clear();
      return out;
    }
    Event next{.deleted = false, .kv = std::move(*parsed)};
    if (const auto* type = event->if_contains("type"); type && type->is_string()) {
      if (type->as_string() == "DELETE")
        next.deleted = true;
      else if (type->as_string() != "PUT") {
        out.reason = "unknown event type";
        out.events.clear();
        return out;
      }
    }
    out.events.push_back(std::move(next));
  }
  out.kind = WatchMessage::Kind::events;
  return out;
}

}  // namespace keel::cluster
