// keel-echo: a small, fast HTTP/1.1 backend for tests, demos and benchmarks.
//
// Every request is answered with 200 and a JSON description of it:
//   {"id":..., "method":..., "target":..., "version":"1.1",
//    "headers":{"host":"...", "x-twice":["a","b"]}, "body_length":N}
// Header names are lower-cased; a name seen once maps to a string, a repeated name to an
// array of its values in arrival order. `/healthz` answers 200 "ok" (never delayed, so a
// slow demo backend still passes health checks).
//
// Request bodies are counted as they arrive and never stored, so any size is fine.
// Keep-alive, pipelining, chunked requests, HTTP/1.0 and `Expect: 100-continue` work.
// There are no timeouts: the peer (keel, a benchmark, a test) owns the connection's life.
#include "proxy/http/address_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr unsigned kMaxThreads = 256;

constexpr std::string_view kUsage =
    "usage: keel-echo --listen HOST:PORT [--id NAME] [--threads N] [--delay MS]\n"
    "\n"
    "Answers every HTTP request with 200 and a JSON body describing it\n"
    "(id, method, target, version, headers, body_length); /healthz answers \"ok\".\n"
    "\n"
    "  --listen HOST:PORT  address to listen on; port 0 picks a free port\n"
    "                      (IPv6 as [::1]:PORT)\n"
    "  --id NAME           reported in every answer (default: the bound address)\n"
    "  --threads N         I/O threads (default 1)\n"
    "  --delay MS          wait MS milliseconds before answering each request\n"
    "                      (not /healthz)\n"
    "  -h, --help          this text\n"
    "\n"
    "signals:\n"
    "  SIGTERM, SIGINT     stop at once (open connections are closed) and exit 0\n"
    "\n"
    "environment: none is read.\n"
    "\n"
    "Prints \"listening on HOST:PORT\" on stdout once accepting. Exit status: 0 after\n"
    "a signal, 1 when the address cannot be bound, 2 on a bad command line.\n"
    "It is keel's demo and test backend (scripts/demo, README.md); documentation:\n"
    "man 8 keel, docs/operations.md.\n";

struct Settings {
  tcp::endpoint listen;
  std::string id;
  unsigned threads = 1;
  std::chrono::milliseconds delay{0};
};

// A body type that counts the bytes of a request body and drops them, so an 8 MiB upload
// costs no memory.
struct CountingBody {
  using value_type = std::uint64_t;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& count) : count_(count) {}

    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) {
      count_ = 0;
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      const auto n = asio::buffer_size(buffers);
      count_ += n;
      ec = {};
      return n;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& count_;
  };
};

using Request = http::request<CountingBody>;

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<tcp::endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const auto port_number = parse_number(port);
  if (!port_number || *port_number > 65535) return std::nullopt;
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  const auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(address, static_cast<std::uint16_t>(*port_number));
}

// Returns the settings, or the problem with the command line. `help` is set for --help.
std::optional<Settings> parse_arguments(int argc, char** argv, bool& help, std::string& error) {
  Settings settings;
  bool have_listen = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return std::nullopt;
    }
    std::string_view value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg == "--listen" || arg == "--id" || arg == "--threads" || arg == "--delay") {
      if (i + 1 == argc) {
        error = std::string(arg) + " needs a value";
        return std::nullopt;
      }
      value = argv[++i];
    }
    if (arg == "--listen") {
      const auto endpoint = parse_endpoint(value);
      if (!endpoint) {
        error = "--listen: expected HOST:PORT, got '" + std::string(value) + "'";
        return std::nullopt;
      }
      settings.listen = *endpoint;
      have_listen = true;
    } else if (arg == "--id") {
      settings.id = value;
    } else if (arg == "--threads") {
      const auto threads = parse_number(value);
      if (!threads || *threads == 0 || *threads > kMaxThreads) {
        error = "--threads: expected an integer from 1 to " + std::to_string(kMaxThreads);
        return std::nullopt;
      }
      settings.threads = static_cast<unsigned>(*threads);
    } else if (arg == "--delay") {
      const auto delay = parse_number(value);
      if (!delay || *delay > 3'600'000) {
        error = "--delay: expected milliseconds from 0 to 3600000";
        return std::nullopt;
      }
      settings.delay = std::chrono::milliseconds(*delay);
    } else {
      error = "unknown argument '" + std::string(argv[i]) + "'";
      return std::nullopt;
    }
  }
  if (!have_listen) {
    error = "--listen is required";
    return std::nullopt;
  }
  return settings;
}

bool is_health_check(std::string_view target) {
  return target == "/healthz" || target.starts_with("/healthz?");
}

std::string describe(const Request& request, const std::string& id) {
  json::object headers;
  std::string name;
  for (const auto& field : request) {
    name.assign(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const json::string_view value(field.value().data(), field.value().size());
    const auto it = headers.find(name);
    if (it == headers.end()) {
      headers.emplace(name, value);
      continue;
    }
    if (it->value().is_string()) {
      json::array values;
      values.emplace_back(std::move(it->value()));
      it->value() = std::move(values);
    }
    it->value().as_array().emplace_back(value);
  }
  json::object out;
  out["id"] = id;
  out["method"] = json::string_view(request.method_string().data(), request.method_string().size());
  out["target"] = json::string_view(request.target().data(), request.target().size());
  out["version"] = request.version() == 10 ? "1.0" : "1.1";
  out["headers"] = std::move(headers);
  out["body_length"] = request.body();
  return json::serialize(out);
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// One connection, served on the worker its socket belongs to.
asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<const Settings> settings) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  beast::flat_buffer buffer;
  asio::steady_timer timer(socket.get_executor());
  for (;;) {
    http::request_parser<CountingBody> parser;
    parser.get().body() = 0;  // init() only runs for requests that have a body
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    auto [ec, n] = co_await http::async_read_header(socket, buffer, parser, use_nothrow);
    if (!ec && !parser.is_done()) {
      if (http::token_list(parser.get()[http::field::expect]).exists("100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        std::tie(ec, n) =
            co_await asio::async_write(socket, asio::buffer(kContinue), use_nothrow);
      }
      if (!ec) std::tie(ec, n) = co_await http::async_read(socket, buffer, parser, use_nothrow);
    }
    if (ec) {
      if (is_parse_error(ec)) {
        static constexpr std::string_view kBadRequest =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
            "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
        co_await asio::async_write(socket, asio::buffer(kBadRequest), use_nothrow);
      }
      break;
    }
    const Request& request = parser.get();
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::server, "keel-echo");
    if (is_health_check(request.target())) {
      response.set(http::field::content_type, "text/plain");
      response.body() = "ok";
    } else {
      if (settings->delay.count() > 0) {
        timer.expires_after(settings->delay);
        co_await timer.async_wait(use_nothrow);
      }
      response.set(http::field::content_type, "application/json");
      response.body() = describe(request, settings->id);
    }
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    if (request.method() == http::verb::head) response.body().clear();  // keeps Content-Length
    std::tie(ec, n) = co_await http::async_write(socket, response, use_nothrow);
    if (ec || !response.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

// Accepts on the first worker and hands connections to the workers in turn.
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                  std::vector<std::unique_ptr<asio::io_context>>& workers,
                                  std::shared_ptr<const Settings> settings) {
  asio::steady_timer backoff(acceptor.get_executor());
  std::size_t next = 0;
  for (;;) {
    auto& worker = *workers[next];
    next = (next + 1) % workers.size();
    auto [ec, socket] = co_await acceptor.async_accept(worker.get_executor(), use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or similar: give connections a moment to close instead of spinning.
      std::fprintf(stderr, "keel-echo: accept: %s\n", ec.message().c_str());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(worker, serve(std::move(socket), settings), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  std::string error;
  auto parsed = parse_arguments(argc, argv, help, error);
  if (help) {
    std::fputs(kUsage.data(), stdout);
    return 0;
  }
  if (!parsed) {
    std::fprintf(stderr, "keel-echo: %s\n\n%s", error.c_str(), kUsage.data());
    return 2;
  }
  auto settings = std::make_shared<Settings>(std::move(*parsed));

  std::vector<std::unique_ptr<asio::io_context>> workers;
  for (unsigned i = 0; i < settings->threads; ++i)
    workers.push_back(std::make_unique<asio::io_context>(1));
  auto& main_context = *workers.front();

  tcp::acceptor acceptor(main_context);
  beast::error_code ec;
  acceptor.open(settings->listen.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(settings->listen, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "keel-echo: cannot listen on %s: %s\n",
                 keel::http::endpoint_text(settings->listen).c_str(), ec.message().c_str());
    return 1;
  }
  const auto bound = keel::http::endpoint_text(acceptor.local_endpoint());
  if (settings->id.empty()) settings->id = bound;

  asio::signal_set signals(main_context, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code& signal_ec, int) {
    if (signal_ec) return;
    beast::error_code ignored;
    acceptor.close(ignored);
    for (auto& worker : workers) worker->stop();
  });

  asio::co_spawn(main_context, accept_loop(acceptor, workers, settings), asio::detached);

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i) {
    guards.push_back(asio::make_work_guard(*workers[i]));
    threads.emplace_back([&context = *workers[i]] { context.run(); });
  }

  // The harness reads this line: the kernel already queues connections from here on.
  std::printf("listening on %s\n", bound.c_str());
  std::fflush(stdout);

  main_context.run();
  for (auto& worker : workers) worker->stop();
  for (auto& thread : threads) thread.join();
  return 0;
}
