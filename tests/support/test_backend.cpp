#include "tests/support/test_backend.hpp"

#include "proxy/http/address_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace keel::test {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kPiece = 64 * 1024;  // body bytes per write
constexpr std::uint32_t kHeaderLimit = 1024 * 1024;
constexpr auto kShutdownGrace = std::chrono::seconds(5);

bool has_field(const Headers& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& field) { return beast::iequals(field.first, name); });
}

std::string hex(std::uint64_t value) {
  std::array<char, 20> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value, 16).ptr;
  return std::string(digits.data(), end);
}

// Pops the front of `queue` once it is non-empty, waiting up to `deadline`.
std::optional<RecordedRequest> pop(std::mutex& mutex, std::condition_variable& changed,
                                   std::deque<RecordedRequest>& queue,
                                   std::chrono::milliseconds deadline) {
  std::unique_lock lock(mutex);
  if (!changed.wait_for(lock, deadline, [&] { return !queue.empty(); })) return std::nullopt;
  auto front = std::move(queue.front());
  queue.pop_front();
  return front;
}

// Records a request exactly as it came: fields in wire order (Beast's own parser groups
// repeated names), the body decoded from its framing.
class RecordingParser : public http::basic_parser<true> {
 public:
  RecordedRequest request;

 private:
  void on_request_impl(http::verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    request.method = method;
    request.target = target;
    request.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    (is_header_done() ? request.trailers : request.headers).emplace_back(std::string(name), std::string(value));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         beast::error_code&) override {
    if (content_length) request.body.reserve(std::min<std::uint64_t>(*content_length, 1 << 26));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    request.body.append(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    request.body.append(body);
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

}  // namespace

// Everything below runs on the backend thread unless a comment says otherwise.
struct TestBackend::Impl {
  struct Session {
    explicit Session(tcp::socket s, std::uint64_t session_id)
        : socket(std::move(s)), timer(socket.get_executor()), id(session_id) {}

    void close() {
      closed = true;
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      timer.cancel();
    }

    tcp::socket socket;
    asio::steady_timer timer;  // delays and chunk intervals
    std::uint64_t id;
    bool closed = false;
  };

  explicit Impl(std::string backend_name) : name(std::move(backend_name)) {
    gate.expires_at(asio::steady_timer::time_point::max());  // never fires; cancel() wakes
  }

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<Session> session);
  asio::awaitable<bool> respond(Session& session, const RecordedRequest& request,
                                bool request_keep_alive, const Reply& reply,
                                beast::flat_buffer& buffer);
  asio::awaitable<bool> send_body(Session& session, const Reply& reply);
  asio::awaitable<bool> write_payload(Session& session, const Reply& reply, std::uint64_t offset,
                                      std::uint64_t length, std::uint64_t& sent);
  asio::awaitable<void> echo(Session& session, beast::flat_buffer& buffer);
  asio::awaitable<void> discard_until_closed(Session& session);
  asio::awaitable<bool> write(Session& session, std::string_view bytes);
  asio::awaitable<bool> pause_for(Session& session, std::chrono::milliseconds duration);
  asio::awaitable<bool> wait_for_release(Session& session);
  void close_all();
  Reply reply_for(const RecordedRequest& request);

  bool is_live(const Session& session) const { return !stopping && !session.closed; }

  const std::string name;
  // Declared before every I/O object so it is destroyed after them; coroutine frames it
  // still owns at that point only hold their own Session.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer gate{ioc};
  bool released = false;
  bool stopping = false;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;
  std::uint16_t port = 0;
  std::thread thread;
  std::future<void> finished;

  // Shared with the test thread.
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::deque<RecordedRequest> requests;
  std::deque<RecordedRequest> heads;
  Handler handler;
  std::size_t request_total = 0;
  std::size_t connection_total = 0;
  std::size_t open_connections = 0;
};

asio::awaitable<void> TestBackend::Impl::accept_loop() {
  asio::steady_timer backoff(ioc);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (stopping || !acceptor.is_open()) co_return;
    if (ec) {  // e.g. out of descriptors: retry shortly instead of spinning
      backoff.expires_after(std::chrono::milliseconds(10));
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mutex);
      id = ++connection_total;
      ++open_connections;
    }
    auto session = std::make_shared<Session>(std::move(socket), id);
    sessions.emplace(id, session);
    asio::co_spawn(ioc, serve(std::move(session)), asio::detached);
  }
}

Reply TestBackend::Impl::reply_for(const RecordedRequest& request) {
  Handler current;
  {
    std::lock_guard lock(mutex);
    current = handler;
  }
  if (!current) return Reply::text("ok from " + name);
  return current(request);
}

asio::awaitable<void> TestBackend::Impl::serve(std::shared_ptr<Session> session) {
  beast::error_code ec;
  const auto remote = session->socket.remote_endpoint(ec);
  const std::string peer = ec ? std::string() : keel::http::endpoint_text(remote);
  beast::flat_buffer buffer;
  for (std::size_t index = 0; is_live(*session); ++index) {
    RecordingParser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    std::size_t n = 0;
    std::tie(ec, n) = co_await http::async_read_header(session->socket, buffer, parser, use_nothrow);
    if (ec) break;

    RecordedRequest& request = parser.request;
    request.connection_id = session->id;
    request.index_on_connection = index;
    request.peer = peer;
    {
      std::lock_guard lock(mutex);
      heads.push_back(request);
    }
    changed.notify_all();

    if (!parser.is_done()) {
      const auto expect = request.header("Expect");
      if (expect && beast::iequals(*expect, "100-continue") &&
          !co_await write(*session, "HTTP/1.1 100 Continue\r\n\r\n"))
        break;
      std::tie(ec, n) = co_await http::async_read(session->socket, buffer, parser, use_nothrow);
      if (ec) break;
    }
    {
      std::lock_guard lock(mutex);
      requests.push_back(request);
      ++request_total;
    }
    changed.notify_all();

    Reply reply;
    try {
      reply = reply_for(request);
    } catch (...) {
      break;
    }
    if (!co_await respond(*session, request, parser.keep_alive(), reply, buffer)) break;
  }
  session->close();
  sessions.erase(session->id);
  {
    std::lock_guard lock(mutex);
    --open_connections;
  }
}

// Returns whether the connection stays open for another request.
asio::awaitable<bool> TestBackend::Impl::respond(Session& session, const RecordedRequest& request,
                                                 bool request_keep_alive, const Reply& reply,
                                                 beast::flat_buffer& buffer) {
  if (reply.kind == Reply::Kind::close) co_return false;
  if (!co_await pause_for(session, reply.delay)) co_return false;
  if (reply.hold_head && !co_await wait_for_release(session)) co_return false;

  switch (reply.kind) {
    case Reply::Kind::hang:
      co_await discard_until_closed(session);
      co_return false;
    case Reply::Kind::raw:
      co_return co_await write(session, reply.body) && reply.keep_alive;
    case Reply::Kind::upgrade_echo: {
      std::string head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ";
      head += request.header("Upgrade").value_or("websocket");
      head += "\r\n";
      if (const auto key = request.header("Sec-WebSocket-Key")) {
        beast::websocket::detail::sec_ws_accept_type accept;
        beast::websocket::detail::make_sec_ws_accept(accept, *key);
        head += "Sec-WebSocket-Accept: " + std::string(accept.data(), accept.size()) + "\r\n";
      }
      for (const auto& [field, value] : reply.headers) head += field + ": " + value + "\r\n";
      head += "\r\n";
      if (co_await write(session, head)) co_await echo(session, buffer);
      co_return false;
    }
    case Reply::Kind::respond:
    case Reply::Kind::close:
      break;
  }

  const auto code = static_cast<unsigned>(reply.status);
  const bool bodiless_status = code < 200 || code == 204 || code == 304;
  const bool custom_framing =
      has_field(reply.headers, "Content-Length") || has_field(reply.headers, "Transfer-Encoding");
  const bool keep_alive = reply.keep_alive && request_keep_alive;
  const std::uint64_t size = reply.pattern_size.value_or(reply.body.size());

  std::string head = "HTTP/1.1 " + std::to_string(code) + " " +
                     std::string(http::obsolete_reason(reply.status)) + "\r\n";
  for (const auto& [field, value] : reply.headers) head += field + ": " + value + "\r\n";
  if (!custom_framing && !bodiless_status) {
    head += reply.chunked ? std::string("Transfer-Encoding: chunked\r\n")
                          : "Content-Length: " + std::to_string(size) + "\r\n";
  }
  if (!has_field(reply.headers, "Connection")) {
    if (!keep_alive)
      head += "Connection: close\r\n";
    else if (request.version == 10)
      head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  if (!co_await write(session, head)) co_return false;
  if (bodiless_status || request.method == "HEAD") co_return keep_alive;
  if (!co_await send_body(session, reply)) co_return false;
  co_return keep_alive;
}

// Returns false if the connection was closed (on purpose or not) before the body ended.
asio::awaitable<bool> TestBackend::Impl::send_body(Session& session, const Reply& reply) {
  const std::uint64_t size = reply.pattern_size.value_or(reply.body.size());
  std::uint64_t sent = 0;
  const bool custom_framing =
      has_field(reply.headers, "Content-Length") || has_field(reply.headers, "Transfer-Encoding");
  if (!reply.chunked || custom_framing) co_return co_await write_payload(session, reply, 0, size, sent);

  const std::uint64_t chunks = std::max<std::uint64_t>(1, reply.chunks);
  std::uint64_t offset = 0;
  for (std::uint64_t i = 0; i < chunks; ++i) {
    // Spread the remainder over the first chunks; never send an empty chunk early.
    const std::uint64_t length = size / chunks + (i < size % chunks ? 1 : 0);
    if (i > 0 && !co_await pause_for(session, reply.chunk_interval)) co_return false;
    if (i + 1 == chunks && reply.hold_last_chunk && !co_await wait_for_release(session))
      co_return false;
    if (length == 0) continue;
    if (!co_await write(session, hex(length) + "\r\n")) co_return false;
    if (!co_await write_payload(session, reply, offset, length, sent)) co_return false;
    if (!co_await write(session, "\r\n")) co_return false;
    offset += length;
  }
  std::string last = "0\r\n";
  for (const auto& [name, value] : reply.trailers) last += name + ": " + value + "\r\n";
  co_return co_await write(session, last + "\r\n");
}

// Writes payload bytes [offset, offset + length), stopping (and closing) where
// close_after_body_bytes says. `sent` counts payload bytes across calls.
asio::awaitable<bool> TestBackend::Impl::write_payload(Session& session, const Reply& reply,
                                                       std::uint64_t offset, std::uint64_t length,
                                                       std::uint64_t& sent) {
  const std::uint64_t limit = reply.close_after_body_bytes.value_or(UINT64_MAX);
  std::string piece;
  while (length > 0) {
    if (sent >= limit) {
      session.close();
      co_return false;
    }
    const auto n = static_cast<std::size_t>(std::min({length, std::uint64_t{kPiece}, limit - sent}));
    std::string_view bytes;
    if (reply.pattern_size) {
      piece = pattern_bytes(offset, n);
      bytes = piece;
    } else {
      bytes = std::string_view(reply.body).substr(offset, n);
    }
    if (!co_await write(session, bytes)) co_return false;
    offset += n;
    length -= n;
    sent += n;
  }
  if (sent >= limit && reply.close_after_body_bytes) {
    session.close();
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> TestBackend::Impl::echo(Session& session, beast::flat_buffer& buffer) {
  // Bytes that arrived right behind the upgrade request are tunnel data too.
  if (buffer.size() > 0) {
    const std::string early = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    if (!co_await write(session, early)) co_return;
  }
  std::array<char, 16 * 1024> bytes;
  while (is_live(session)) {
    auto [ec, n] = co_await session.socket.async_read_some(asio::buffer(bytes), use_nothrow);
    if (ec) break;
    if (!co_await write(session, std::string_view(bytes.data(), n))) co_return;
  }
  beast::error_code ignored;
  session.socket.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> TestBackend::Impl::discard_until_closed(Session& session) {
  std::array<char, 4096> sink;
  while (is_live(session)) {
    auto [ec, n] = co_await session.socket.async_read_some(asio::buffer(sink), use_nothrow);
    if (ec) break;
  }
}

asio::awaitable<bool> TestBackend::Impl::write(Session& session, std::string_view bytes) {
  if (!is_live(session)) co_return false;
  auto [ec, n] = co_await asio::async_write(session.socket, asio::buffer(bytes), use_nothrow);
  co_return !ec && is_live(session);
}

asio::awaitable<bool> TestBackend::Impl::pause_for(Session& session,
                                               std::chrono::milliseconds duration) {
  if (duration.count() > 0 && is_live(session)) {
    session.timer.expires_after(duration);
    co_await session.timer.async_wait(use_nothrow);
  }
  co_return is_live(session);
}

asio::awaitable<bool> TestBackend::Impl::wait_for_release(Session& session) {
  // cancel() on the gate wakes every waiter; each re-checks why it was woken.
  while (!released && is_live(session)) co_await gate.async_wait(use_nothrow);
  co_return is_live(session);
}

void TestBackend::Impl::close_all() {
  for (auto& [id, weak] : sessions)
    if (auto session = weak.lock()) session->close();
  gate.cancel();  // held sessions notice they were closed
}

TestBackend::TestBackend(std::string name, std::uint16_t port)
    : impl_(std::make_unique<Impl>(std::move(name))) {
  Impl& impl = *impl_;
  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  impl.acceptor.open(endpoint.protocol());
  impl.acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl.acceptor.bind(endpoint);
  impl.acceptor.listen(asio::socket_base::max_listen_connections);
  impl.port = impl.acceptor.local_endpoint().port();
  asio::co_spawn(impl.ioc, impl.accept_loop(), asio::detached);

  std::packaged_task<void()> run([&impl] { impl.ioc.run(); });
  impl.finished = run.get_future();
  impl.thread = std::thread(std::move(run));
}

TestBackend::~TestBackend() { stop(); }

const std::string& TestBackend::name() const { return impl_->name; }

std::string TestBackend::address() const { return "127.0.0.1:" + std::to_string(impl_->port); }

std::uint16_t TestBackend::port() const { return impl_->port; }

void TestBackend::set_handler(Handler handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->handler = std::move(handler);
}

void TestBackend::set_reply(Reply reply) {
  set_handler([reply = std::move(reply)](const RecordedRequest&) { return reply; });
}

std::optional<RecordedRequest> TestBackend::next_request(std::chrono::milliseconds deadline) {
  return pop(impl_->mutex, impl_->changed, impl_->requests, deadline);
}

std::optional<RecordedRequest> TestBackend::next_request_head(std::chrono::milliseconds deadline) {
  return pop(impl_->mutex, impl_->changed, impl_->heads, deadline);
}

std::size_t TestBackend::request_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->request_total;
}

std::size_t TestBackend::connection_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connection_total;
}

std::size_t TestBackend::open_connection_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->open_connections;
}

// Test thread. Ordered after earlier calls: the backend thread runs posts in order.
void TestBackend::release() {
  asio::post(impl_->ioc, [impl = impl_.get()] {
    impl->released = true;
    impl->gate.cancel();
  });
}

void TestBackend::rearm() {
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->released = false; });
}

void TestBackend::close_connections() {
  if (!impl_->thread.joinable()) return;
  auto done = std::make_shared<std::promise<void>>();
  auto closed = done->get_future();
  asio::post(impl_->ioc, [impl = impl_.get(), done] {
    impl->close_all();
    done->set_value();
  });
  // The backend thread only stops inside stop(), which this thread is not running.
  closed.wait_for(kShutdownGrace);
}

void TestBackend::stop() {
  Impl& impl = *impl_;
  if (!impl.thread.joinable()) return;
  asio::post(impl.ioc, [&impl] {
    impl.stopping = true;
    beast::error_code ignored;
    impl.acceptor.close(ignored);
    impl.close_all();
  });
  // Every coroutine ends once its socket or timer is cancelled, and run() returns for lack
  // of work; force it only if something is stuck, so a bug shows as a slow stop, not a hang.
  if (impl.finished.wait_for(kShutdownGrace) != std::future_status::ready) impl.ioc.stop();
  impl.thread.join();
}

}  // namespace keel::test
