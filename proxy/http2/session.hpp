// One HTTP/2 client connection's protocol state: nghttp2 in its memory
// interface (mem_recv/mem_send), driven by the connection on its worker thread.
// No I/O, no thread, no lock: bytes in through receive(), frames out through
// send(), stream events through SessionEvents. The defences nghttp2 offers are
// switched on here (reset-rate limit, CONTINUATION cap, outbound ACK and
// SETTINGS caps, concurrent streams); the ones it does not (header bytes as an
// HTTP/1.1 head would count them, a request cap per connection, bounded
// response buffering) are kept here too.
#pragma once

#include "proxy/http/head_parser.hpp"
#include "proxy/http2/request_head.hpp"
#include "proxy/http2/stream_memory.hpp"

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::http2 {

struct SessionSettings {
  std::uint32_t max_concurrent_streams = 128;
  std::size_t max_header_bytes = 16'384;  // limits.max_header_bytes
  // Requests per connection; the one that reaches it is served, then GOAWAY.
  std::uint32_t max_requests = 10'000;
  // Per-stream receive window: the request body bytes a stream may have in
  // flight before they reach the backend (window updates follow consume()).
  std::uint32_t stream_window = 64 * 1024;
  // Reset-rate limit (Rapid Reset, CVE-2023-44487): a token bucket of `burst`
  // refilled `rate` per second; empty means GOAWAY.
  std::uint64_t reset_burst = 1000;
  std::uint64_t reset_rate = 33;
  std::size_t max_continuations = 8;   // CONTINUATION frames per header block
  std::size_t max_outbound_ack = 1000; // queued SETTINGS/PING ACKs (flood)
  std::size_t max_settings = 32;       // entries per SETTINGS frame
};

// One request stream. The connection finds its own state through `user`.
struct Stream {
  std::int32_t id = 0;
  std::string head;            // the HTTP/1.1 request head (write_request_head)
  bool has_body = false;       // HEADERS came without END_STREAM
  bool request_complete = false;
  bool closed = false;         // nghttp2 closed it (done or reset)
  bool reset_by_client = false;
  bool held = false;           // the connection still uses it after close
  // Response side.
  bool response_submitted = false;
  bool response_body_done = false;
  bool waiting_for_room = false;  // the connection waits for response_room()
  std::string response_body;      // bytes not yet framed as DATA
  std::size_t response_offset = 0;
  std::vector<nghttp2_nv> response_nva;
  std::string response_names, status_text, length_text;
  std::vector<nghttp2_nv> trailer_nva;  // sent after the last DATA, when not empty
  std::string trailer_bytes;
  void* user = nullptr;
  std::size_t slot = 0;  // index in the session's live list

  // Header block under construction.
  std::string header_bytes;                           // names and values back to back
  std::vector<std::pair<std::uint32_t, std::uint32_t>> header_sizes;  // name, value lengths
  std::size_t counted_header_bytes = 0;
  bool headers_too_large = false;

  std::size_t response_buffered() const { return response_body.size() - response_offset; }
  void reset_for_reuse();
};

// What the connection does with stream events; all on the worker thread,
// called from inside Session::receive() or Session::send().
class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  // A request head is complete (stream.head); body bytes follow unless
  // stream.request_complete.
  virtual void on_request(Stream& stream) = 0;
  // DATA payload; the connection calls consume() once the bytes reached the backend.
  virtual void on_request_body(Stream& stream, std::string_view bytes) = 0;
  virtual void on_request_end(Stream& stream) = 0;
  // The response buffer of a stream that waited for room has drained.
  virtual void on_response_room(Stream& stream) = 0;
  // The stream is gone (answered, or reset by either side). Unless the
  // connection sets stream.held, the Stream is reused right after.
  virtual void on_stream_closed(Stream& stream) = 0;
};

// Worker thread only.
class Session {
 public:
  Session(SessionEvents& events, const SessionSettings& settings);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds client bytes. False: the connection is broken (bad preface, flood,
  // protocol error); send() may still have a GOAWAY to flush before closing.
  bool receive(std::span<const std::uint8_t> bytes);
  // Appends frames to `out` until it holds `max` bytes or nothing is pending.
  // False on a fatal error.
  bool send(std::string& out, std::size_t max);
  bool wants_read() const { return nghttp2_session_want_read(session_) != 0; }
  bool wants_write() const { return nghttp2_session_want_write(session_) != 0; }

  // The response head. With `has_body`, DATA follows from append_response_body()
  // until finish_response_body().
  void submit_response(Stream& stream, int status, const std::vector<nghttp2_nv>& nva, bool has_body);
  // A short error answer (text/plain), e.g. 431, 502, 503 (with Retry-After).
  void submit_error(Stream& stream, int status, std::string_view body);
  void append_response_body(Stream& stream, std::string_view bytes);
  // Trailer fields for the response in progress: a HEADERS frame after its
  // last DATA ends the stream instead.
  void set_response_trailers(Stream& stream, const std::vector<http::Field>& trailers);
  void finish_response_body(Stream& stream);
  // Request body bytes reached the backend: opens the client's window again.
  void consume(Stream& stream, std::size_t bytes);
  void reset(Stream& stream, std::uint32_t error_code);
  // Graceful shutdown: GOAWAY announcing the last stream accepted; open
  // streams finish.
  void shutdown();
  // Lets go of a stream the connection held past its close.
  void release(Stream& stream);

  std::uint64_t requests() const { return requests_; }
  std::uint64_t client_resets() const { return client_resets_; }
  std::size_t open_streams() const { return open_streams_; }
  bool going_away() const { return going_away_; }
  // Blocks nghttp2 took from malloc for this connection (the allocation tests' measure).
  std::size_t memory_mallocs() const { return memory_.mallocs(); }

 private:
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_header(nghttp2_session*, const nghttp2_frame*, nghttp2_rcbuf*, nghttp2_rcbuf*, uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
  static int on_stream_close(nghttp2_session*, int32_t, uint32_t, void*);
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*, nghttp2_data_source*, void*);

  Stream* acquire();
  void recycle(Stream* stream);
  void request_headers_done(Stream& stream, bool end_stream);

  SessionEvents& events_;
  SessionSettings settings_;
  StreamMemory memory_;  // nghttp2's own allocations, recycled per connection
  nghttp2_session* session_ = nullptr;
  std::vector<std::unique_ptr<Stream>> free_streams_;
  std::vector<Stream*> live_;  // acquired and not yet recycled: nghttp2 frees its streams without callbacks
  std::vector<Header> header_views_;  // scratch for write_request_head
  std::uint64_t requests_ = 0;
  std::uint64_t client_resets_ = 0;
  std::size_t open_streams_ = 0;
  bool going_away_ = false;
};

}  // namespace keel::http2
