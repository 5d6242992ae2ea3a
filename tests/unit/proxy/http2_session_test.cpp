// The HTTP/2 session against an nghttp2 client in the same process (or raw
// frames where a well-behaved client cannot attack): deterministic, no socket.
#include <gtest/gtest.h>

#include "proxy/http2/session.hpp"

#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace keel::http2 {
namespace {

// The connection's side in these tests: answers every request at once with
// 200 and its head as body, unless told to hold them.
class RecordingEvents final : public SessionEvents {
 public:
  Session* session = nullptr;
  bool hold = false;          // leave requests unanswered
  bool consume_body = true;   // give request body bytes back at once
  std::vector<std::string> heads;
  std::map<std::int32_t, std::string> bodies;
  std::vector<Stream*> held;
  int closed = 0;

  void on_request(Stream& stream) override {
    heads.push_back(stream.head);
    stream.user = this;
    if (hold) {
      held.push_back(&stream);
      return;
    }
    if (stream.request_complete) answer(stream);
  }
  void on_request_body(Stream& stream, std::string_view bytes) override {
    bodies[stream.id].append(bytes);
    if (consume_body) session->consume(stream, bytes.size());
  }
  void on_request_end(Stream& stream) override {
    if (!hold) answer(stream);
  }
  void on_response_room(Stream&) override {}
  void on_stream_closed(Stream&) override { ++closed; }

  void answer(Stream& stream) {
    static const std::vector<nghttp2_nv> nva = {
        {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    session->submit_response(stream, 200, nva, true);
    session->append_response_body(stream, "ok");
    session->finish_response_body(stream);
  }
};

struct ClientStream {
  int status = 0;
  std::string body;
  std::uint32_t reset_code = 0;
  bool closed = false;
};

// An nghttp2 client whose bytes go straight into the server session.
class Client {
 public:
  explicit Client(std::uint32_t peer_max_streams = 100) {
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user) {
          if (std::string_view((const char*)name, namelen) == ":status")
            static_cast<Client*>(user)->streams[frame->hd.stream_id].status =
                std::stoi(std::string((const char*)value, valuelen));
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
          static_cast<Client*>(user)->streams[id].body.append((const char*)data, len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, [](nghttp2_session*, int32_t id, uint32_t code, void* user) {
          auto& s = static_cast<Client*>(user)->streams[id];
          s.closed = true;
          s.reset_code = code;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          auto* self = static_cast<Client*>(user);
          if (frame->hd.type == NGHTTP2_GOAWAY) {
            self->goaway = true;
            self->goaway_code = frame->goaway.error_code;
            self->goaway_last_stream = frame->goaway.last_stream_id;
          }
          return 0;
        });
    nghttp2_option* option;
    nghttp2_option_new(&option);
    nghttp2_option_set_peer_max_concurrent_streams(option, peer_max_streams);
    nghttp2_session_client_new2(&session, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }

  std::int32_t get(const std::string& path, std::vector<std::pair<std::string, std::string>> extra = {},
                   nghttp2_data_provider* body = nullptr, const char* method = "GET") {
    std::vector<std::pair<std::string, std::string>> all = {
        {":method", method}, {":scheme", "http"}, {":authority", "a.test"}, {":path", path}};
    all.insert(all.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : all)
      nva.push_back({(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), body, nullptr);
  }

  // Client bytes not yet given to the server.
  std::string take_output() {
    std::string out;
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session, &data)) > 0) out.append((const char*)data, n);
    return out;
  }

  nghttp2_session* session = nullptr;
  std::map<std::int32_t, ClientStream> streams;
  bool goaway = false;
  std::uint32_t goaway_code = 0;
  std::int32_t goaway_last_stream = -1;
};

struct Pair {
  explicit Pair(SessionSettings settings = {}, std::uint32_t peer_max_streams = 100)
      : client(peer_max_streams), server(events, settings) {
    events.session = &server;
  }
  // Moves bytes both ways until neither side has any; false once the server
  // refused its input.
  bool pump() {
    for (int round = 0; round < 1000; ++round) {
      const std::string to_server = client.take_output();
      if (!to_server.empty() && !server.receive({(const uint8_t*)to_server.data(), to_server.size()})) {
        flush_server();
        return false;
      }
      std::string to_client;
      EXPECT_TRUE(server.send(to_client, 1 << 20));
      if (!to_client.empty()) nghttp2_session_mem_recv(client.session, (const uint8_t*)to_client.data(), to_client.size());
      if (to_server.empty() && to_client.empty()) return true;
    }
    ADD_FAILURE() << "no quiet point";
    return false;
  }
  void flush_server() {
    std::string to_client;
    server.send(to_client, 1 << 20);
    if (!to_client.empty()) nghttp2_session_mem_recv(client.session, (const uint8_t*)to_client.data(), to_client.size());
  }
  bool feed_raw(const std::string& bytes) { return server.receive({(const uint8_t*)bytes.data(), bytes.size()}); }

  RecordingEvents events;
  Client client;
  Session server;
};

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const std::string& payload) {
  std::string f;
  f.push_back(static_cast<char>(payload.size() >> 16));
  f.push_back(static_cast<char>(payload.size() >> 8));
  f.push_back(static_cast<char>(payload.size()));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>(stream >> shift));
  return f + payload;
}

const std::string kPreface = std::string(NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN) + frame(4, 0, 0, "");
// HPACK, static table: :method GET, :scheme http, :path /, :authority "a".
const std::string kGetBlock = std::string("\x82\x86\x84\x41\x01" "a", 6);

TEST(Http2Session, RequestBecomesAnHttp11HeadAndIsAnswered) {
  Pair pair;
  const auto id = pair.client.get("/x?y=1", {{"cookie", "a=1"}, {"cookie", "b=2"}});
  ASSERT_TRUE(pair.pump());
  ASSERT_EQ(pair.events.heads.size(), 1u);
  EXPECT_EQ(pair.events.heads[0], "GET /x?y=1 HTTP/1.1\r\nHost: a.test\r\nCookie: a=1; b=2\r\n\r\n");
  EXPECT_EQ(pair.client.streams[id].status, 200);
  EXPECT_EQ(pair.client.streams[id].body, "ok");
  EXPECT_EQ(pair.server.requests(), 1u);
  EXPECT_EQ(pair.server.open_streams(), 0u);
}

TEST(Http2Session, HeaderListPastMaxHeaderBytesGets431) {
  Pair pair({.max_header_bytes = 1024});
  std::vector<std::pair<std::string, std::string>> cookies;
  for (int i = 0; i < 100; ++i) cookies.push_back({"cookie", "k" + std::to_string(i) + "=0123456789"});
  const auto id = pair.client.get("/", cookies);
  ASSERT_TRUE(pair.pump());
  EXPECT_TRUE(pair.events.heads.empty());
  EXPECT_EQ(pair.client.streams[id].status, 431);
  // Under the limit it passes.
  cookies.resize(10);
  const auto small = pair.client.get("/", cookies);
  ASSERT_TRUE(pair.pump());
  EXPECT_EQ(pair.client.streams[small].status, 200);
}

TEST(Http2Session, ConnectionSpecificHeaderResetsTheStreamOnly) {
  Pair pair;
  const auto bad = pair.client.get("/", {{"connection", "close"}});
  const auto bad_te = pair.client.get("/", {{"te", "gzip"}});
  const auto good = pair.client.get("/");
  ASSERT_TRUE(pair.pump());
  EXPECT_EQ(pair.client.streams[bad].reset_code, static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_EQ(pair.client.streams[bad_te].reset_code, static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_EQ(pair.client.streams[good].status, 200);
  EXPECT_FALSE(pair.client.goaway);
}

TEST(Http2Session, StreamsPastTheConcurrencyLimitAreRefused) {
  Pair pair({.max_concurrent_streams = 4}, 1000);  // a client that has not seen our SETTINGS
  pair.events.hold = true;
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(pair.client.get("/"));
  ASSERT_TRUE(pair.pump());
  EXPECT_EQ(pair.events.heads.size(), 4u);
  int refused = 0;
  for (auto id : ids) refused += pair.client.streams[id].reset_code == NGHTTP2_REFUSED_STREAM;
  EXPECT_EQ(refused, 6);
}

TEST(Http2Session, RequestCapEndsWithAGracefulGoaway) {
  Pair pair({.max_requests = 3});
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(pair.client.get("/"));
    ASSERT_TRUE(pair.pump());
  }
  EXPECT_TRUE(pair.client.goaway);
  EXPECT_EQ(pair.client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(pair.client.goaway_last_stream, ids[2]);
  for (auto id : ids) EXPECT_EQ(pair.client.streams[id].status, 200);  // the last one is served too
  EXPECT_TRUE(pair.server.going_away());
}

TEST(Http2Session, ShutdownLetsOpenStreamsFinish) {
  Pair pair;
  pair.events.hold = true;
  const auto id = pair.client.get("/");
  ASSERT_TRUE(pair.pump());
  pair.server.shutdown();
  ASSERT_TRUE(pair.pump());
  EXPECT_TRUE(pair.client.goaway);
  EXPECT_EQ(pair.client.goaway_last_stream, id);
  EXPECT_TRUE(pair.server.wants_read() || pair.server.wants_write());  // the open stream keeps it going
  ASSERT_EQ(pair.events.held.size(), 1u);
  pair.events.answer(*pair.events.held[0]);
  ASSERT_TRUE(pair.pump());
  EXPECT_EQ(pair.client.streams[id].status, 200);
  EXPECT_EQ(pair.server.open_streams(), 0u);
  EXPECT_FALSE(pair.server.wants_read() || pair.server.wants_write());  // done: the connection may close
}

TEST(Http2Session, RapidResetEndsTheConnection) {
  Pair pair({.reset_burst = 50, .reset_rate = 1});
  pair.events.hold = true;  // like a slow backend: every stream is still open when reset
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    const auto id = pair.client.get("/");
    std::string bytes = pair.client.take_output();
    nghttp2_submit_rst_stream(pair.client.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    bytes += pair.client.take_output();
    refused = !pair.feed_raw(bytes);
    std::string ignored;
    pair.server.send(ignored, 1 << 20);
    if (!ignored.empty()) nghttp2_session_mem_recv(pair.client.session, (const uint8_t*)ignored.data(), ignored.size());
  }
  pair.flush_server();
  EXPECT_TRUE(pair.client.goaway);
  EXPECT_NE(pair.client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_GE(pair.server.client_resets(), 50u);
  EXPECT_LE(pair.server.client_resets(), 60u);
}

TEST(Http2Session, ContinuationFloodIsAConnectionError) {
  Pair pair({.max_continuations = 8});
  std::string attack = kPreface + frame(1, 0x4 /*END_HEADERS*/, 1, kGetBlock);  // a fine request first
  attack += frame(1, 0, 3, kGetBlock);  // no END_HEADERS: CONTINUATIONs follow
  for (int i = 0; i < 20; ++i) attack += frame(9, 0, 3, "");
  EXPECT_FALSE(pair.feed_raw(attack));
}

TEST(Http2Session, SettingsFloodIsAConnectionError) {
  Pair pair({.max_outbound_ack = 100});
  std::string attack = kPreface;
  for (int i = 0; i < 200; ++i) attack += frame(4, 0, 0, "");  // never reads the ACKs
  EXPECT_FALSE(pair.feed_raw(attack));
}

TEST(Http2Session, PingFloodIsAConnectionError) {
  Pair pair({.max_outbound_ack = 100});
  std::string attack = kPreface;
  for (int i = 0; i < 200; ++i) attack += frame(6, 0, 0, std::string(8, 'p'));
  EXPECT_FALSE(pair.feed_raw(attack));
}

TEST(Http2Session, TooManySettingsEntriesIsAConnectionError) {
  Pair pair({.max_settings = 4});
  std::string entries;
  for (int i = 0; i < 10; ++i) entries += std::string("\x00\x03\x00\x00\x00\x10", 6);
  pair.feed_raw(kPreface + frame(4, 0, 0, entries));  // nghttp2 answers with GOAWAY, then reads no more
  pair.flush_server();
  EXPECT_TRUE(pair.client.goaway);
  EXPECT_EQ(pair.client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_FALSE(pair.server.wants_read());
}

TEST(Http2Session, BadPrefaceIsAConnectionError) {
  Pair pair;
  EXPECT_FALSE(pair.feed_raw("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
}

// The window opens again only as the connection consumes body bytes (that is,
// as they reach the backend): a client can have one window in flight, no more.
TEST(Http2Session, RequestBodyWaitsForConsume) {
  Pair pair({.stream_window = 16384});
  pair.events.hold = true;
  pair.events.consume_body = false;
  ASSERT_TRUE(pair.pump());  // the client knows our SETTINGS (its window) before it sends
  static std::size_t left;
  left = 100'000;
  nghttp2_data_provider body{};
  body.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source*, void*) -> ssize_t {
    const std::size_t n = std::min(length, left);
    std::memset(buf, 'b', n);
    left -= n;
    if (left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  };
  const auto id = pair.client.get("/up", {}, &body, "POST");
  ASSERT_TRUE(pair.pump());
  EXPECT_EQ(pair.events.bodies[id].size(), 16384u);
  ASSERT_EQ(pair.events.held.size(), 1u);
  pair.server.consume(*pair.events.held[0], 16384);
  ASSERT_TRUE(pair.pump());
  EXPECT_EQ(pair.events.bodies[id].size(), 32768u);
  EXPECT_EQ(pair.events.heads[0], "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n");
}

// nghttp2's own allocations come from the connection's recycled blocks once
// the first requests have warmed them up. Each request carries a new header
// value, so HPACK's dynamic table fills (4096 bytes: about 90 of these) and
// then evicts an entry for each one it adds.
TEST(Http2Session, SteadyStateRequestsTakeNoNewMemory) {
  Pair pair;
  int i = 0;
  for (; i < 200; ++i) {
    pair.client.get("/warm", {{"x-request", std::to_string(i)}});
    ASSERT_TRUE(pair.pump());
  }
  const std::size_t warmed = pair.server.memory_mallocs();
  for (; i < 1200; ++i) {
    pair.client.get("/steady", {{"x-request", std::to_string(i)}});
    ASSERT_TRUE(pair.pump());
  }
  EXPECT_EQ(pair.server.memory_mallocs(), warmed);
  EXPECT_EQ(pair.server.requests(), 1200u);
}

}  // namespace
}  // namespace keel::http2
