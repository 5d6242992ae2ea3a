// etcd's JSON gateway as data: base64, prefix ranges, request bodies, and the
// gateway's quirks in replies (int64 as strings, omitted defaults, compaction).
#include "proxy/cluster/etcd_codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

namespace keel::cluster {
namespace {

namespace json = boost::json;

json::object object(std::string_view text) { return json::parse(text).as_object(); }

TEST(EtcdCodec, Base64RoundTripsEveryLengthAndRefusesGarbage) {
  std::string data;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(base64_decode(base64_encode(data)), data) << i;
    data += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64_encode("/keel/x"), "L2tlZWwveA==");
  EXPECT_EQ(base64_decode("djE="), "v1");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab!="));
}

TEST(EtcdCodec, PrefixRangeEndIncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(prefix_range_end("/keel/"), "/keel0");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdCodec, ReadsIntegersSentAsStringsAndMissingOnesAsZero) {
  const auto reply = object(R"({"a":"12","b":7,"c":"x","d":-3})");
  EXPECT_EQ(read_int64(reply, "a"), 12);
  EXPECT_EQ(read_int64(reply, "b"), 7);
  EXPECT_EQ(read_int64(reply, "missing"), 0);
  EXPECT_FALSE(read_int64(reply, "c"));
  EXPECT_EQ(read_int64(reply, "d"), -3);
}

TEST(EtcdCodec, ReadsARangeReplyAndAnEmptyOne) {
  const auto reply = object(R"({"header":{"cluster_id":"14841639068965178418","revision":"2"},
      "kvs":[{"key":"L2tlZWwveA==","create_revision":"2","mod_revision":"2","version":"1","value":"djE="}],"count":"1"})");
  const auto header = read_header(reply);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->revision, 2);
  EXPECT_EQ(header->cluster_id, 14841639068965178418u);
  const auto kvs = read_key_values(reply);
  ASSERT_TRUE(kvs);
  ASSERT_EQ(kvs->size(), 1u);
  EXPECT_EQ(kvs->front().key, "/keel/x");
  EXPECT_EQ(kvs->front().value, "v1");
  EXPECT_EQ(kvs->front().mod_revision, 2);
  // No "kvs" at all when nothing matched.
  EXPECT_EQ(read_key_values(object(R"({"header":{"revision":"5"}})"))->size(), 0u);
  EXPECT_FALSE(read_key_values(object(R"({"kvs":[{"key":"!!"}]})")));
}

TEST(EtcdCodec, ReadsErrorsInBothShapes) {
  const auto unary = read_error(object(R"({"error":"etcdserver: mvcc: required revision has been compacted",
      "message":"etcdserver: mvcc: required revision has been compacted","code":11})"));
  ASSERT_TRUE(unary);
  EXPECT_EQ(unary->code, 11);
  EXPECT_NE(unary->message.find("compacted"), std::string::npos);
  EXPECT_FALSE(read_error(object(R"({"header":{"revision":"1"}})")));
}

TEST(EtcdCodec, TxnSucceededIsMissingWhenFalse) {
  EXPECT_FALSE(txn_succeeded(object(R"({"header":{"revision":"6"},"responses":[]})")));
  EXPECT_TRUE(txn_succeeded(object(R"({"header":{"revision":"6"},"succeeded":true})")));
  const auto ranges = txn_ranges(object(R"({"responses":[{"response_range":{"header":{"revision":"6"},
      "kvs":[{"key":"L2tlZWwveQ==","create_revision":"4","mod_revision":"6","version":"3","value":"djM="}],"count":"1"}}]})"));
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].value, "v3");
}

TEST(EtcdCodec, BuildsATransactionTheGatewayAccepts) {
  const auto body = object(txn_request({{.target = Compare::Target::create, .key = "/k", .revision = 0},
                                        {.target = Compare::Target::mod, .key = "/m", .revision = 42}},
                                       {{.kind = Operation::Kind::put, .key = "/k", .value = "v", .lease = 7},
                                        {.kind = Operation::Kind::remove, .key = "/m", .value = {}, .lease = 0}},
                                       {{.kind = Operation::Kind::range, .key = "/k", .value = {}, .lease = 0}}));
  EXPECT_EQ(json::serialize(body.at("compare")),
            R"([{"key":"L2s=","target":"CREATE","create_revision":"0","result":"EQUAL"},)"
            R"({"key":"L20=","target":"MOD","mod_revision":"42","result":"EQUAL"}])");
  EXPECT_EQ(json::serialize(body.at("success")),
            R"([{"request_put":{"key":"L2s=","value":"dg==","lease":"7"}},{"request_delete_range":{"key":"L20="}}])");
  EXPECT_EQ(json::serialize(body.at("failure")), R"([{"request_range":{"key":"L2s="}}])");
}

TEST(EtcdCodec, ClassifiesWatchMessages) {
  using Kind = WatchMessage::Kind;
  EXPECT_EQ(read_watch_message(json::parse(R"({"result":{"header":{"revision":"2"},"created":true}})")).kind,
            Kind::created);
  const auto events = read_watch_message(json::parse(R"({"result":{"header":{"revision":"3"},"events":[
      {"kv":{"key":"L2tlZWwveA==","create_revision":"2","mod_revision":"2","version":"1","value":"djE="}},
      {"type":"DELETE","kv":{"key":"L2tlZWwveA==","mod_revision":"3"}}]}})"));
  ASSERT_EQ(events.kind, Kind::events);
  ASSERT_EQ(events.events.size(), 2u);
  EXPECT_FALSE(events.events[0].deleted) << "a PUT event has no type";
  EXPECT_TRUE(events.events[1].deleted);
  EXPECT_EQ(events.events[1].kv.mod_revision, 3);
  EXPECT_EQ(read_watch_message(json::parse(R"({"result":{"header":{"revision":"9"}}})")).kind, Kind::progress);
  const auto compacted =
      read_watch_message(json::parse(R"({"result":{"header":{},"canceled":true,"compact_revision":"5"}})"));
  EXPECT_EQ(compacted.kind, Kind::canceled);
  EXPECT_EQ(compacted.compact_revision, 5);
  EXPECT_EQ(read_watch_message(json::parse(R"({"error":{"grpc_code":14,"http_code":503,"message":"unavailable"}})")).kind,
            Kind::error);
  EXPECT_EQ(read_watch_message(json::parse(R"([1])")).kind, Kind::malformed);
  EXPECT_EQ(read_watch_message(json::parse(R"({"result":{"header":{"revision":"3"},"events":[{"type":"BOGUS","kv":{"key":"L2s="}}]}})")).kind,
            Kind::malformed);
}

}  // namespace
}  // namespace keel::cluster
