// The HTTP/2 input path: client bytes into keel's nghttp2 session (after the
// connection preface, so that the fuzzer spends its time on frames), with a
// connection that answers each request with a body in pieces and consumes
// request DATA as a backend would take it. The first input byte splits the
// rest into reads of 1 to 256 bytes, so frame boundaries fall anywhere.
// The same bytes also go to the ClientHello reader that routes TLS connections
// offering h2 (it must stay within its input, whatever the lengths say).
// Checks, besides the sanitizers:
// - every request head handed to the connection is one keel's HTTP/1.1 front
//   door accepts as it is: the raw-head scan passes and the parser reads it
//   whole, ending exactly at its end;
// - the session keeps within its limits (open streams, header bytes).
#include "proxy/http/head_parser.hpp"
#include "proxy/http/request_guard.hpp"
#include "proxy/http2/client_hello.hpp"
#include "proxy/http2/first_bytes.hpp"
#include "proxy/http2/session.hpp"
#include "tests/fuzz/check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace keel;

constexpr std::uint32_t kMaxStreams = 8;
constexpr std::size_t kMaxHeaderBytes = 4096;

class Events final : public http2::SessionEvents {
 public:
  http2::Session* session = nullptr;
  std::vector<http::Field> fields;

  void on_request(http2::Stream& stream) override {
    KEEL_FUZZ_CHECK(stream.head.size() <= kMaxHeaderBytes);
    KEEL_FUZZ_CHECK(http::scan_raw_head(stream.head) == http::GuardResult::ok);
    http::RequestParser parser(fields);
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(boost::none);
    boost::beast::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(stream.head), ec);
    KEEL_FUZZ_CHECK(parser.is_header_done());
    KEEL_FUZZ_CHECK(used == stream.head.size());
    stream.user = this;
    answer(stream);
  }
  void on_request_body(http2::Stream& stream, std::string_view bytes) override {
    session->consume(stream, bytes.size());
  }
  void on_request_end(http2::Stream&) override {}
  void on_response_room(http2::Stream&) override {}
  void on_stream_closed(http2::Stream&) override {}

 private:
  void answer(http2::Stream& stream) {
    static const std::vector<nghttp2_nv> nva = {{(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    session->submit_response(stream, 200, nva, true);
    session->append_response_body(stream, std::string(100, 'x'));
    session->append_response_body(stream, std::string(20000, 'y'));
    // Every other stream ends with trailers (a trailing HEADERS frame submitted
    // from inside nghttp2's DATA callback).
    static const std::vector<http::Field> trailers = {
        {boost::beast::http::field::unknown, "Grpc-Status", "0"}};
    if (stream.id % 4 == 1) session->set_response_trailers(stream, trailers);
    session->finish_response_body(stream);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const http2::HelloAlpn alpn = http2::inspect_client_hello(raw);
  // Knowing more bytes never takes "need more" back to a verdict on fewer.
  if (alpn != http2::HelloAlpn::need_more && size > 1)
    KEEL_FUZZ_CHECK(http2::inspect_client_hello(raw.substr(0, size - 1)) != http2::HelloAlpn::offers_h2 ||
                    alpn == http2::HelloAlpn::offers_h2);
  const std::size_t piece = 1 + data[0];
  std::string input(http2::kConnectionPreface);
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  Events events;
  http2::Session session(events, {.max_concurrent_streams = kMaxStreams, .max_header_bytes = kMaxHeaderBytes});
  events.session = &session;
  std::string out;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    const std::size_t n = std::min(piece, input.size() - at);
    const bool ok = session.receive({reinterpret_cast<const std::uint8_t*>(input.data() + at), n});
    out.clear();
    session.send(out, 1 << 20);
    KEEL_FUZZ_CHECK(session.open_streams() <= kMaxStreams);
    if (!ok) break;
  }
  return 0;
}
