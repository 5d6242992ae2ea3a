#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keel::http {

namespace beast_http = boost::beast::http;
using BeastView = boost::beast::string_view;  // converts to std::string_view

// A header field as it stands in the connection's read buffer. The views stay
// valid until the buffer is next written to, so a head is rewritten right after
// it is parsed.
struct Field {
  beast_http::field id;
  std::string_view name;
  std::string_view value;
};

// True for a hop-by-hop header that is never forwarded (RFC 9110 §7.6.1 plus
// Proxy-Connection); Content-Length is re-emitted from the framing instead.
// Inline: it runs for every field of every head.
inline bool is_hop_by_hop(beast_http::field id) {
  switch (id) {
    case beast_http::field::connection:
    case beast_http::field::keep_alive:
    case beast_http::field::proxy_connection:
    case beast_http::field::te:
    case beast_http::field::trailer:
    case beast_http::field::transfer_encoding:
    case beast_http::field::upgrade:
      return true;
    default:
      return false;
  }
}

// How a message body is framed on the next hop.
enum class Framing { none, length, chunked, until_close };

// A streaming relay parser: Beast's basic_parser validates framing (Content-Length
// lists, Transfer-Encoding, chunk sizes) and we keep the header as views instead of
// copying it into a fields container, which would allocate per field. Body bytes
// are appended to `output`, re-framed for the next hop: pieces become chunks when
// the output is chunked, so input chunk boundaries and extensions never leak through.
template <bool isRequest>
class RelayParser : public beast_http::basic_parser<isRequest> {
  using Base = beast_http::basic_parser<isRequest>;

 public:
  explicit RelayParser(std::vector<Field>& fields) : fields_(fields) { fields_.clear(); }

  // Until the head is done, uses no byte of `buffer` unless the whole head is in
  // it. Beast alone uses a complete start line while the fields are still
  // incomplete, and checks header_limit against the start line and the fields
  // separately; keel's connections put their whole buffer again after need_more
  // and take the bytes used once the head is done as its length, and 431 is due
  // past max_header_bytes for the head as a whole.
  //
  // After need_more in a body, Beast asserts that the next put() brings new
  // bytes and, for a last chunk waiting for its trailer, at least 5 in all
  // (parse_chunk_header), but the upload pump puts what the first body put()
  // left without reading first, and "0\r\n" may arrive alone. Such a put() is
  // need_more again without reaching Beast; a body's end is never shorter than
  // "0\r\n\r\n", so no message waits for bytes it already has. Found by fuzzing.
  std::size_t put(boost::asio::const_buffer buffer, boost::beast::error_code& ec) {
    if (!this->is_header_done() && !head_complete(buffer, ec)) return 0;
    if (waiting_with_ != kNotWaiting && (buffer.size() <= waiting_with_ || buffer.size() < 5)) {
      ec = beast_http::error::need_more;
      return 0;
    }
    const std::size_t used = Base::put(buffer, ec);
    waiting_with_ = ec == beast_http::error::need_more && this->is_header_done() ? buffer.size() - used : kNotWaiting;
    return used;
  }

  void header_limit(std::uint32_t limit) {
    header_limit_ = limit;
    Base::header_limit(limit);
  }

  const std::vector<Field>& fields() const { return fields_; }
  int version() const { return version_; }

  // Call once the header is done and before body bytes are put. A chunked
  // output gets the trailer fields that may be forwarded (see is_forwardable_trailer)
  // in its last chunk; other framings have no place for them.
  void set_body_output(std::string* output, Framing framing) {
    output_ = output;
    output_framing_ = framing;
  }
  // Also collects the forwardable trailer fields here (for a next hop that is
  // not chunked HTTP/1.1). Their views point into the buffer given to put() and
  // stay valid until it is next written to.
  void set_trailer_output(std::vector<Field>* trailers) { trailers_ = trailers; }
  std::uint64_t body_bytes() const { return body_bytes_; }
  std::uint64_t chunk_headers_seen() const { return chunk_headers_seen_; }

 protected:
  void on_field_impl(beast_http::field id, BeastView name, BeastView value,
                     boost::beast::error_code& ec) override {
    if (this->is_header_done()) {
      on_trailer(id, name, value);
      return;
    }
    if (!is_in_place(name, value)) {
      // An obs-fold value, which Beast unfolds into scratch memory that is gone
      // once put() returns. A request is refused by scan_raw_head with its reason;
      // a response is bad (RFC 9112 §5.2 lets a gateway answer 502 instead).
      if constexpr (!isRequest) {
        ec = beast_http::error::bad_value;
        return;
      }
      value = {};
    }
    fields_.push_back({id, name, value});
  }
  void on_header_impl(boost::beast::error_code& ec) override {
    // Only chunked can be undone and re-framed; a request's other codings are
    // refused by check_request_head, a response body's make it bad here rather
    // than reach the client as if the body were plain.
    if constexpr (!isRequest) {
      if (this->is_done()) return;  // no body: HEAD, 1xx, 204, 304
      for (const Field& field : fields_) {
        if (field.id == beast_http::field::transfer_encoding &&
            !boost::beast::iequals(field.value, "chunked")) {
          ec = beast_http::error::bad_transfer_encoding;
          return;
        }
      }
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}
  std::size_t on_body_impl(BeastView body, boost::beast::error_code&) override {
    emit(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, BeastView, boost::beast::error_code&) override {
    ++chunk_headers_seen_;
  }
  std::size_t on_chunk_body_impl(std::uint64_t, BeastView body,
                                 boost::beast::error_code&) override {
    emit(body);
    return body.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {
    if (output_ && output_framing_ == Framing::chunked) output_->append(trailer_started_ ? "\r\n" : "0\r\n\r\n");
  }

  int version_ = 11;

 private:
  // Beast's put() uses nothing while the start line is incomplete, so it may see
  // such a buffer (and refuse garbage early); past that, only the whole head.
  bool head_complete(boost::asio::const_buffer buffer, boost::beast::error_code& ec) {
    const std::string_view head(static_cast<const char*>(buffer.data()),
                                std::min<std::size_t>(buffer.size(), header_limit_));
    const std::size_t from = std::min(head_scanned_, head.size());
    if (!line_seen_) line_seen_ = head.find("\r\n", from) != std::string_view::npos;
    if (line_seen_ && head.find("\r\n\r\n", from) != std::string_view::npos) return true;
    head_scanned_ = head.size() < 3 ? 0 : head.size() - 3;  // a CRLFCRLF may straddle pieces
    if (!line_seen_) return true;
    ec = buffer.size() >= header_limit_ ? beast_http::error::header_limit : beast_http::error::need_more;
    return false;
  }

  // A field of a chunked message's trailer section (RFC 9112 §7.1.2), which
  // Beast reports after the last chunk's size line and before on_finish. One
  // that is framing, routing or hop-by-hop is dropped (RFC 9110 §6.5.1), as is
  // an obs-fold one (its unfolded value is gone once put() returns).
  void on_trailer(beast_http::field id, BeastView name, BeastView value) {
    if (!is_forwardable_trailer(id) || !is_in_place(name, value)) return;
    if (trailers_) trailers_->push_back({id, name, value});
    if (!output_ || output_framing_ != Framing::chunked) return;
    if (!trailer_started_) output_->append("0\r\n");
    trailer_started_ = true;
    output_->append(name.data(), name.size()).append(": ").append(value.data(), value.size()).append("\r\n");
  }

  static bool is_forwardable_trailer(beast_http::field id) {
    return !is_hop_by_hop(id) && id != beast_http::field::content_length && id != beast_http::field::host;
  }

  // A value Beast left in the input starts right after "name:" and its OWS.
  static bool is_in_place(BeastView name, BeastView value) {
    const char* p = name.data() + name.size() + 1;
    while (*p == ' ' || *p == '\t') ++p;
    return p == value.data();
  }

  void emit(std::string_view body) {
    body_bytes_ += body.size();
    if (!output_ || body.empty()) return;
    if (output_framing_ == Framing::chunked) {
      char size_line[20];
      char* end = std::to_chars(size_line, size_line + 16, body.size(), 16).ptr;
      *end++ = '\r';
      *end++ = '\n';
      output_->append(size_line, static_cast<std::size_t>(end - size_line));
      output_->append(body);
      output_->append("\r\n");
    } else {
      output_->append(body);
    }
  }

  static constexpr std::size_t kNotWaiting = static_cast<std::size_t>(-1);

  std::vector<Field>& fields_;
  std::size_t waiting_with_ = kNotWaiting;  // bytes left unused by a put() that said need_more
  std::uint32_t header_limit_ = 8192;  // Beast's default, until header_limit() is called
  std::size_t head_scanned_ = 0;       // head bytes known to hold no terminator
  bool line_seen_ = false;
  std::string* output_ = nullptr;
  Framing output_framing_ = Framing::none;
  std::vector<Field>* trailers_ = nullptr;
  bool trailer_started_ = false;  // "0\r\n" and a trailer field are in output_
  std::uint64_t body_bytes_ = 0;
  std::uint64_t chunk_headers_seen_ = 0;
};

class RequestParser final : public RelayParser<true> {
 public:
  using RelayParser::RelayParser;

  beast_http::verb method() const { return method_; }
  std::string_view method_text() const { return method_text_; }
  std::string_view target() const { return target_; }

 private:
  void on_request_impl(beast_http::verb method, BeastView method_text, BeastView target,
                       int version, boost::beast::error_code&) override {
    method_ = method;
    method_text_ = method_text;
    target_ = target;
    version_ = version;
  }
  void on_response_impl(int, BeastView, int, boost::beast::error_code&) override {}

  beast_http::verb method_ = beast_http::verb::unknown;
  std::string_view method_text_;
  std::string_view target_;
};

class ResponseParser final : public RelayParser<false> {
 public:
  using RelayParser::RelayParser;

  static constexpr int kMinStatus = 100;
  static constexpr int kMaxStatus = 599;

  int status() const { return status_; }
  std::string_view reason() const { return reason_; }

 private:
  void on_request_impl(beast_http::verb, BeastView, BeastView, int,
                       boost::beast::error_code&) override {}
  void on_response_impl(int status, BeastView reason, int version,
                        boost::beast::error_code& ec) override {
    // Beast takes any three digits; RFC 9110 §15 defines 100 to 599 only, and a
    // client cannot be relied on to make sense of anything else (a "999" or "000"
    // reached it as such before): the response is invalid, 502 for the client.
    if (status < kMinStatus || status > kMaxStatus) {
      ec = beast_http::error::bad_status;
      return;
    }
    status_ = status;
    reason_ = reason;
    version_ = version;
  }

  int status_ = 0;
  std::string_view reason_;
};

}  // namespace keel::http
