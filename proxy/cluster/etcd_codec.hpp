// etcd's v3 JSON gateway as data (no I/O): the request bodies keel sends and
// the replies it reads. The gateway's quirks live here and nowhere else: keys
// and values are base64, int64s are JSON strings, fields holding their default
// value are left out ("succeeded" when false, "type" of a PUT event, the whole
// "kvs" of an empty range), and a compacted watch is a result with "canceled"
// and "compact_revision" on a stream that stays open.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::cluster {

std::string base64_encode(std::string_view data);
// nullopt on malformed input.
std::optional<std::string> base64_decode(std::string_view text);

// The end of the range holding every key that starts with `prefix` (etcd's
// GetPrefixRangeEnd: the prefix with its last byte below 0xff incremented).
std::string prefix_range_end(std::string_view prefix);

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

struct Event {
  bool deleted = false;  // DELETE; else PUT
  KeyValue kv;
};

struct Header {
  std::int64_t revision = 0;
  std::uint64_t cluster_id = 0;
};

// What the gateway answered instead of a result: {"error","message","code"}
// (gRPC codes: 5 not found, 9 failed precondition, 11 out of range = compacted,
// 14 unavailable, 16 unauthenticated).
struct EtcdError {
  int code = 0;
  std::string message;
};

// An int64 the gateway sends as a string (or, defensively, a number); 0 when
// absent, nullopt when present but not an integer.
std::optional<std::int64_t> read_int64(const boost::json::object& object, std::string_view field);

// {"error": ...} or {"code": N, "message": ...} at the top of a reply; nullopt
// for a result.
std::optional<EtcdError> read_error(const boost::json::object& reply);
// The reply's "header"; nullopt when missing or malformed.
std::optional<Header> read_header(const boost::json::object& reply);
// One "kv" object; nullopt when malformed (bad base64, non-integer revision).
std::optional<KeyValue> read_key_value(const boost::json::object& kv);
// The "kvs" of a range reply ([] when absent); nullopt when one is malformed.
std::optional<std::vector<KeyValue>> read_key_values(const boost::json::object& reply);

// --- request bodies ---
std::string range_request(std::string_view key, std::string_view range_end, std::int64_t revision = 0,
                          bool serializable = false);
std::string watch_request(std::string_view key, std::string_view range_end, std::int64_t start_revision);
std::string lease_grant_request(std::int64_t ttl_seconds);
std::string lease_keepalive_request(std::int64_t lease);
std::string authenticate_request(std::string_view name, std::string_view password);

// A transaction: every compare must hold for `success` to run, else `failure`.
struct Compare {
  enum class Target { create, mod } target = Target::mod;
  std::string key;
  std::int64_t revision = 0;  // create_revision 0 = the key does not exist
};
struct Operation {
  enum class Kind { put, remove, range } kind = Kind::put;  // range: read `key` (failure branches)
  std::string key;
  std::string value;
  std::int64_t lease = 0;
};
std::string txn_request(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                        const std::vector<Operation>& failure = {});
// Whether the compares held ("succeeded" is omitted when false).
bool txn_succeeded(const boost::json::object& reply);
// The key-values a txn's range operations read, in order.
std::vector<KeyValue> txn_ranges(const boost::json::object& reply);

// One object of a watch stream ({"result": ...} or {"error": ...}).
struct WatchMessage {
  enum class Kind { created, events, progress, canceled, error, malformed } kind = Kind::malformed;
  Header header;
  std::vector<Event> events;
  std::int64_t compact_revision = 0;  // canceled: the oldest revision still kept (0 if not compaction)
  std::string reason;                 // canceled, error, malformed: why
};
WatchMessage read_watch_message(const boost::json::value& message);

}  // namespace keel::cluster
