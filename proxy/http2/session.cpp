#include "proxy/http2/session.hpp"

#include "proxy/http2/response_head.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace keel::http2 {
namespace {

// A request head larger than this is refused with 431 before it is stored
// whole: nghttp2 hands headers over one by one, and a block of small ones
// must not grow the stream's storage without bound either.
constexpr std::size_t kPerHeaderOverhead = 4;  // ": " and CRLF, as in an HTTP/1.1 head
// Stream objects kept for reuse per connection beyond the open ones.
constexpr std::size_t kMaxFreeStreams = 64;

Session& self_of(void* user) { return *static_cast<Session*>(user); }

Stream* stream_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

}  // namespace

void Stream::reset_for_reuse() {
  id = 0;
  head.clear();
  has_body = request_complete = closed = reset_by_client = held = false;
  response_submitted = response_body_done = waiting_for_room = false;
  response_body.clear();
  response_offset = 0;
  response_nva.clear();
  trailer_nva.clear();
  trailer_bytes.clear();
  user = nullptr;
  header_bytes.clear();
  header_sizes.clear();
  counted_header_bytes = 0;
  headers_too_large = false;
}

Session::Session(SessionEvents& events, const SessionSettings& settings) : events_(events), settings_(settings) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0)
    throw std::bad_alloc();
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &Session::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(callbacks, &Session::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Session::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Session::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Session::on_stream_close);

  // Window updates only as request bytes reach the backend (consume()).
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);  // no priority tree of dead streams
  nghttp2_option_set_stream_reset_rate_limit(option, settings_.reset_burst, settings_.reset_rate);
  nghttp2_option_set_max_continuations(option, settings_.max_continuations);
  nghttp2_option_set_max_outbound_ack(option, settings_.max_outbound_ack);
  nghttp2_option_set_max_settings(option, settings_.max_settings);
  const int created = nghttp2_session_server_new3(&session_, callbacks, this, option, memory_.nghttp2());
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (created != 0) throw std::bad_alloc();

  const nghttp2_settings_entry entries[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(settings_.max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries, std::size(entries));
  // The connection window: room for every stream's window would let a client
  // park max_concurrent_streams * stream_window bytes with us; a few streams'
  // worth is what nginx and HAProxy allow too.
  const std::int32_t connection_window = static_cast<std::int32_t>(
      std::min<std::uint64_t>(4ull * settings_.stream_window, (1u << 31) - 1));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, connection_window);
}

Session::~Session() {
  nghttp2_session_del(session_);
  for (Stream* stream : live_) delete stream;
}

bool Session::receive(std::span<const std::uint8_t> bytes) {
  const ssize_t used = nghttp2_session_mem_recv(session_, bytes.data(), bytes.size());
  if (used >= 0) return true;
  // nghttp2 queues a GOAWAY for some errors, not for floods or a bad
  // preface: the client learns why before the connection closes. A second
  // GOAWAY after nghttp2's own is refused by nghttp2 (harmless).
  nghttp2_session_terminate_session(
      session_, used == NGHTTP2_ERR_FLOODED || used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                    ? NGHTTP2_ENHANCE_YOUR_CALM
                    : NGHTTP2_PROTOCOL_ERROR);
  return false;
}

bool Session::send(std::string& out, std::size_t max) {
  while (out.size() < max) {
    const std::uint8_t* data = nullptr;
    const ssize_t length = nghttp2_session_mem_send(session_, &data);
    if (length < 0) return false;
    if (length == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
  }
  return true;
}

void Session::submit_response(Stream& stream, int, const std::vector<nghttp2_nv>& nva, bool has_body) {
  if (stream.closed || stream.response_submitted) return;
  stream.response_submitted = true;
  stream.response_body_done = !has_body;
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = &Session::read_body;
  nghttp2_submit_response(session_, stream.id, nva.data(), nva.size(), has_body ? &provider : nullptr);
}

void Session::submit_error(Stream& stream, int status, std::string_view body) {
  stream.status_text = std::to_string(status);
  stream.length_text = std::to_string(body.size());
  auto nv = [](std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                      NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  };
  stream.response_nva.clear();
  stream.response_nva.push_back(nv(":status", stream.status_text));
  stream.response_nva.push_back(nv("content-type", "text/plain"));
  stream.response_nva.push_back(nv("content-length", stream.length_text));
  if (status == 503) stream.response_nva.push_back(nv("retry-after", "1"));  // as HTTP/1.1 answers it
  stream.response_body.assign(body);
  stream.response_offset = 0;
  submit_response(stream, status, stream.response_nva, !body.empty());
  stream.response_body_done = true;
}

void Session::append_response_body(Stream& stream, std::string_view bytes) {
  if (stream.closed) return;
  if (stream.response_offset == stream.response_body.size()) {
    stream.response_body.clear();
    stream.response_offset = 0;
  }
  stream.response_body.append(bytes);
  nghttp2_session_resume_data(session_, stream.id);
}

void Session::set_response_trailers(Stream& stream, const std::vector<http::Field>& trailers) {
  make_trailer_headers(stream.trailer_nva, stream.trailer_bytes, trailers);
}

void Session::finish_response_body(Stream& stream) {
  if (stream.closed) return;
  stream.response_body_done = true;
  nghttp2_session_resume_data(session_, stream.id);
}

void Session::consume(Stream& stream, std::size_t bytes) {
  if (bytes == 0) return;
  if (stream.closed)
    nghttp2_session_consume_connection(session_, bytes);
  else
    nghttp2_session_consume(session_, stream.id, bytes);
}

void Session::reset(Stream& stream, std::uint32_t error_code) {
  if (!stream.closed) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, error_code);
}

void Session::shutdown() {
  if (going_away_) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
}

void Session::release(Stream& stream) {
  stream.held = false;
  if (stream.closed) recycle(&stream);
}

Stream* Session::acquire() {
  Stream* stream = nullptr;
  if (free_streams_.empty()) {
    stream = new Stream();
  } else {
    stream = free_streams_.back().release();
    free_streams_.pop_back();
  }
  stream->slot = live_.size();
  live_.push_back(stream);
  return stream;
}

void Session::recycle(Stream* stream) {
  live_.back()->slot = stream->slot;
  live_[stream->slot] = live_.back();
  live_.pop_back();
  stream->reset_for_reuse();
  if (free_streams_.size() >= kMaxFreeStreams) {
    delete stream;
    return;
  }
  free_streams_.emplace_back(stream);
}

int Session::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  Session& self = self_of(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  Stream* stream = self.acquire();
  stream->id = frame->hd.stream_id;
  nghttp2_session_set_stream_user_data(session, stream->id, stream);
  ++self.open_streams_;
  ++self.requests_;
  // The request that reaches the cap is served; GOAWAY names it as the last.
  if (self.requests_ >= self.settings_.max_requests && !self.going_away_) {
    self.going_away_ = true;
    nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  return 0;
}

int Session::on_header(nghttp2_session* session, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                       nghttp2_rcbuf* value, uint8_t, void* user) {
  Session& self = self_of(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers dropped
  Stream* stream = stream_of(session, frame->hd.stream_id);
  if (!stream || stream->headers_too_large) return 0;
  const nghttp2_vec n = nghttp2_rcbuf_get_buf(name);
  const nghttp2_vec v = nghttp2_rcbuf_get_buf(value);
  stream->counted_header_bytes += n.len + v.len + kPerHeaderOverhead;
  if (stream->counted_header_bytes > self.settings_.max_header_bytes) {
    stream->headers_too_large = true;  // answered 431 once the block ends
    stream->header_bytes.clear();
    stream->header_sizes.clear();
    return 0;
  }
  stream->header_bytes.append(reinterpret_cast<const char*>(n.base), n.len);
  stream->header_bytes.append(reinterpret_cast<const char*>(v.base), v.len);
  stream->header_sizes.emplace_back(static_cast<std::uint32_t>(n.len), static_cast<std::uint32_t>(v.len));
  return 0;
}

int Session::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  Session& self = self_of(user);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* stream = stream_of(session, frame->hd.stream_id);
      if (!stream) return 0;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        self.request_headers_done(*stream, end_stream);
      } else if (end_stream && !stream->request_complete) {  // trailers end the body
        stream->request_complete = true;
        if (stream->user) self.events_.on_request_end(*stream);
      }
      return 0;
    }
    case NGHTTP2_DATA: {
      Stream* stream = stream_of(session, frame->hd.stream_id);
      if (stream && end_stream && !stream->request_complete) {
        stream->request_complete = true;
        if (stream->user) self.events_.on_request_end(*stream);
      }
      return 0;
    }
    case NGHTTP2_RST_STREAM:
      if (Stream* stream = stream_of(session, frame->hd.stream_id)) stream->reset_by_client = true;
      ++self.client_resets_;
      return 0;
    default:
      return 0;
  }
}

void Session::request_headers_done(Stream& stream, bool end_stream) {
  stream.has_body = !end_stream;
  stream.request_complete = end_stream;
  if (stream.headers_too_large) {
    submit_error(stream, 431, "request header fields too large\n");
    return;
  }
  header_views_.clear();
  std::size_t at = 0;
  for (const auto& [name_length, value_length] : stream.header_sizes) {
    const std::string_view name(stream.header_bytes.data() + at, name_length);
    const std::string_view value(stream.header_bytes.data() + at + name_length, value_length);
    header_views_.push_back({name, value});
    at += name_length + value_length;
  }
  stream.head.clear();
  const RequestHeadError error =
      write_request_head(stream.head, header_views_, stream.has_body, settings_.max_header_bytes);
  switch (error) {
    case RequestHeadError::none:
      events_.on_request(stream);
      return;
    case RequestHeadError::too_large:
      submit_error(stream, 431, "request header fields too large\n");
      return;
    case RequestHeadError::unsupported_method:
      submit_error(stream, 405, "CONNECT is not supported\n");
      return;
    default:  // malformed (RFC 9113 §8.1.1)
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_PROTOCOL_ERROR);
      return;
  }
}

int Session::on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t length,
                           void* user) {
  Session& self = self_of(user);
  Stream* stream = stream_of(session, stream_id);
  if (!stream || !stream->user || stream->closed) {
    // Nobody will forward these bytes: give the window back at once.
    nghttp2_session_consume(session, stream_id, length);
    return 0;
  }
  self.events_.on_request_body(*stream, std::string_view(reinterpret_cast<const char*>(data), length));
  return 0;
}

int Session::on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t, void* user) {
  Session& self = self_of(user);
  Stream* stream = stream_of(session, stream_id);
  if (!stream) return 0;
  nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
  stream->closed = true;
  --self.open_streams_;
  if (stream->user) self.events_.on_stream_closed(*stream);
  if (!stream->held) self.recycle(stream);
  return 0;
}

ssize_t Session::read_body(nghttp2_session* session, int32_t stream_id, uint8_t* buffer, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void* user) {
  Session& self = self_of(user);
  Stream& stream = *static_cast<Stream*>(source->ptr);
  const std::size_t available = stream.response_buffered();
  const std::size_t take = std::min(available, length);
  std::memcpy(buffer, stream.response_body.data() + stream.response_offset, take);
  stream.response_offset += take;
  if (stream.response_offset == stream.response_body.size()) {
    stream.response_body.clear();
    stream.response_offset = 0;
    if (stream.response_body_done) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!stream.trailer_nva.empty()) {
        // The trailers end the stream; nghttp2 takes them from inside this callback.
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (nghttp2_submit_trailer(session, stream_id, stream.trailer_nva.data(), stream.trailer_nva.size()) != 0)
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset: not a whole response
      }
      return static_cast<ssize_t>(take);
    }
    if (stream.waiting_for_room && stream.user) {
      stream.waiting_for_room = false;
      self.events_.on_response_room(stream);
    }
    if (take == 0) return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(take);
}

}  // namespace keel::http2
